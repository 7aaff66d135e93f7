"""Alembic revision files, one per schema change."""

from __future__ import annotations
