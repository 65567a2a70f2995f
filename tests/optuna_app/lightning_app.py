"""A tiny Lightning app for the pruning test: linear regression on fixed synthetic data, validated every epoch,
with the project's real pruning callback. `lr=0` never learns, so its validation score stays bad."""

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig
from torch.utils.data import DataLoader, TensorDataset

from taskexpert.training.pruning import OptunaPruningCallback


class Regression(pl.LightningModule):
    def __init__(self, lr: float) -> None:
        super().__init__()
        self.layer = torch.nn.Linear(4, 1)
        self.lr = lr

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> torch.Tensor:
        inputs, targets = batch
        return torch.nn.functional.mse_loss(self.layer(inputs), targets)

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], batch_index: int) -> None:
        inputs, targets = batch
        self.log("val/score", -torch.nn.functional.mse_loss(self.layer(inputs), targets))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def loader(generator: torch.Generator) -> DataLoader:
    inputs = torch.randn(32, 4, generator=generator)
    targets = inputs @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 1.0
    return DataLoader(TensorDataset(inputs, targets), batch_size=8)


@hydra.main(version_base="1.3", config_path="conf", config_name="lightning")
def main(cfg: DictConfig) -> float:
    pl.seed_everything(0, verbose=False)
    generator = torch.Generator().manual_seed(0)
    callbacks = (
        [OptunaPruningCallback.from_config(cfg.optuna_trial, cfg.optimized_metric)]
        if cfg.get("optuna_trial")
        else []
    )
    trainer = pl.Trainer(
        max_epochs=cfg.max_epochs,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        callbacks=callbacks,
    )
    trainer.fit(Regression(cfg.lr), loader(generator), loader(generator))
    return float(trainer.callback_metrics[cfg.optimized_metric])


if __name__ == "__main__":
    main()
