"""Grammar stage: source text -> typed AST. Lark trees never leave this package."""
