"""Optional integrations with other tools; each module needs its own extra (e.g. `pip install irtnet[litellm]`)."""
