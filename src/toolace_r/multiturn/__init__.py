"""BFCL v4 multi-turn checking: BFCL's backend environments (:mod:`~toolace_r.multiturn.envs`) and a
per-entry checker with BFCL's rules and error labels (:mod:`~toolace_r.multiturn.checker`)."""
