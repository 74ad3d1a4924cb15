"""The peers: minimal servers a Python user would pick instead of ours."""
