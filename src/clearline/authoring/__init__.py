"""Authoring tools over contract text: the formatter (`clearline fmt`) and the
semantic diff of two contracts (`clearline diff`); the language server
(`clearline.lsp`) builds on both."""
