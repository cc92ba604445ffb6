"""The privacy codec below the store (floor 2): which columns are personal (config.py), the
per-subject keys (keys.py), and encrypting/decrypting values (codec.py). Declaring and
forgetting, which change a store, live above it in :mod:`eventlab.privacy`."""
