"""Teacher-driven data augmentation (Dr. LLaMA rewrite/new, LLM2LLM, ReBase): not available yet."""

import sys

if __name__ == "__main__":
    sys.exit("augment.py is not implemented yet: teacher-driven augmentation is planned; train.py is ready.")
