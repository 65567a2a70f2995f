"""Test support for augmentation: local servers (our fault-injecting one, a real `transformers serve`) and the
records and configs the runs against them use."""
