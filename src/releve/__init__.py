"""Relève: a downtime continuity system for hospitals.

Data flows one way through the sub-packages: capture -> vault -> station -> journal.
"""

__version__ = "0.1.0"
