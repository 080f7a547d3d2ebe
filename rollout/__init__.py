"""rollout: build and solve the 5G and 10G-PON integer programs, phase them, and keep the plan."""
__version__ = "0.1.0"
