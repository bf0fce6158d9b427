"""Rendering environments: libmypaint painting and (optionally) MuJoCo scenes."""
