"""Generated tables of Nomad's API struct fields and Go types, one module per supported Nomad
version (``nomad_<major>_<minor>``), written by ``scripts/nomad_api_table.py``. Do not edit."""
