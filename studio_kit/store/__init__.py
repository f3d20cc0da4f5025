"""The studio's storage: the content-addressed vault, the SQLite ledger, stable hashes,
YAML reading with line numbers and atomic writes, and the asset index over them."""
