"""SPIRAL's networks: the policy (π) and the critic (D), built from env specs."""
