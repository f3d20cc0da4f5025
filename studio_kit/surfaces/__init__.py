"""The logic behind the surfaces, with no UI imports: the Episode Bay's timeline model, the
Asset Vault's index (provenance, cost, usage), where each episode stands, and the Project
Builder. The Panel components that show them are in ``widgets``."""
