"""The augmentation study: each train job of `python train.py -m sweep=augmentation` trains on its data arm.

An arm (`conf/data_arm/`) names the augment.py methods that make its teacher data. The first job of an arm makes
that data (under a file lock, so concurrent jobs of the arm pay once), every other job reuses it; each job then
trains on the seeds plus the arm's records and writes `data_arm.json` (what the data took from the teacher).
"""

from taskexpert.study.job import run_study_job

__all__ = ["run_study_job"]
