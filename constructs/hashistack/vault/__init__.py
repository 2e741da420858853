"""Vault building blocks: the policy model (HCL rendering and lint)."""

from .policy import CAPABILITIES, Policy, Rule

__all__ = ["CAPABILITIES", "Policy", "Rule"]
