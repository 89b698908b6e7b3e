"""Device profiles (x86-cpu, rpi4, rpi5, jetson-nano, jetson-orin-nano) and host detection.

Profiles are TOML files in ``profiles/``: CPU architecture, runtimes in preference order,
artifacts to produce (format x precision), default threads, input size, notes.
"""
