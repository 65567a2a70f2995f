"""An Optuna sweeper for Hydra on current Optuna: RDB storage, resumable studies, pruning inside the jobs.

Select it with `defaults: [override hydra/sweeper: taskexpert_optuna]`; see config.py for its settings.
"""
