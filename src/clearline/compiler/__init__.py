"""Compiler stage: AST -> checked contract -> settlement plan (data)."""
