"""The language server of the contract language (`clearline lsp`); needs the `lsp` extra."""
