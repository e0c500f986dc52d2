"""GMM: a mixture of factor analyzers on raw pixels, fitted by EM (Richardson & Weiss 2018's face GMM).

Each component k is N(mu_k, A_k A_k^T + diag(psi_k)); sampling draws a component and a low-dim latent
z ~ N(0, I): x = mu_k + A_k z, plus per-pixel noise sqrt(psi_k) * eps when `sample_noise` is on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ._common import progress_bar, rand, randn
from ._registry import register_generator
from .base import Generator


@dataclass
class GMMConfig:
    resolution: int = 64
    components: int = 16
    latent_dim: int = 10       # factor-loading rank per component
    steps: int = 25            # EM iterations
    kmeans_iters: int = 10
    psi_floor: float = 1e-4    # minimum per-pixel noise variance (pixels in [-1, 1])
    flip: bool = True          # add horizontally flipped copies of the data
    sample_noise: bool = False  # add the per-pixel diagonal noise psi when sampling (the model's exact samples;
                                # off by default, as in the reference study's GMM images: x = mu_k + A_k z)
    seed: int = 0


class MFA(nn.Module):
    """Parameters of the mixture (buffers, so they are saved but not trained by autograd)."""

    def __init__(self, c: GMMConfig) -> None:
        super().__init__()
        k, d, l = c.components, 3 * c.resolution ** 2, c.latent_dim
        self.register_buffer("mu", torch.zeros(k, d))
        self.register_buffer("A", torch.zeros(k, d, l))
        self.register_buffer("log_psi", torch.zeros(k, d))
        self.register_buffer("log_pi", torch.full((k,), -math.log(k)))


def _kmeans(x: torch.Tensor, k: int, iters: int, g: torch.Generator) -> torch.Tensor:
    centers = x[torch.randperm(len(x), generator=g)[:k].to(x.device)].clone()
    for _ in range(iters):
        assign = torch.cdist(x, centers).argmin(1)
        for j in range(k):
            m = assign == j
            centers[j] = x[m].mean(0) if m.any() else x[torch.randint(len(x), (1,), generator=g).item()]
    return torch.cdist(x, centers).argmin(1)


@register_generator("gmm")
class GMM(Generator):
    """Mixture of factor analyzers; `steps` = EM iterations (each one pass over the data)."""

    config_class = GMMConfig

    def build(self) -> nn.Module:
        return MFA(self.config)

    def _init(self, x: torch.Tensor) -> None:
        c, m = self.config, self.net
        g = torch.Generator().manual_seed(c.seed)
        assign = _kmeans(x, c.components, c.kmeans_iters, g)
        for j in range(c.components):
            xj = x[assign == j]
            if len(xj) <= c.latent_dim + 1:
                xj = x[torch.randint(len(x), (c.latent_dim * 4,), generator=g).to(x.device)]
            mu = xj.mean(0)
            _, s, vt = torch.linalg.svd(xj - mu, full_matrices=False)
            var = s ** 2 / len(xj)
            rest = ((xj - mu) ** 2).mean(0).sum() - var[:c.latent_dim].sum()
            sigma2 = (rest / (x.shape[1] - c.latent_dim)).clamp_min(c.psi_floor)
            m.mu[j] = mu
            m.A[j] = vt[:c.latent_dim].T * (var[:c.latent_dim] - sigma2).clamp_min(0).sqrt()
            m.log_psi[j] = sigma2.log()
            m.log_pi[j] = math.log(max(len(xj), 1) / len(x))
        m.log_pi -= torch.logsumexp(m.log_pi, 0)

    def _e_step(self, x: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log joint per component (N, K), posterior latent means (K, N, l), posterior covariances (K, l, l).

        Vectorised over components with the Woodbury identity; `x2` = x**2 (precomputed).
        """
        m, (n, d), l = self.net, x.shape, self.config.latent_dim
        k = len(m.mu)
        pinv = torch.exp(-m.log_psi)                                    # (K, D)
        atp = m.A.transpose(1, 2) * pinv[:, None, :]                    # (K, l, D)
        # in float64: with psi at its floor, A^T psi^-1 A is large and float32 rounding can break definiteness
        mm = torch.eye(l, dtype=torch.float64, device=x.device) + atp.double() @ m.A.double()
        chol = torch.linalg.cholesky((mm + mm.transpose(1, 2)) / 2)   # (K, l, l)
        q = (x @ atp.reshape(k * l, d).T).view(n, k, l) - (atp @ m.mu[:, :, None])[None, :, :, 0]
        mq = torch.cholesky_solve(q.permute(1, 2, 0).double(), chol)    # (K, l, N)
        maha = (x2 @ pinv.T - 2 * x @ (m.mu * pinv).T + (m.mu.pow(2) * pinv).sum(1)).double() \
            - (q.permute(1, 2, 0).double() * mq).sum(1).T                # (N, K)
        logdet = 2 * torch.log(torch.diagonal(chol, dim1=1, dim2=2)).sum(1) + m.log_psi.double().sum(1)
        ll = m.log_pi.double() - 0.5 * (d * math.log(2 * math.pi) + logdet + maha)
        return ll, mq.transpose(1, 2).to(x.dtype), torch.cholesky_inverse(chol).to(x.dtype)

    def _m_step(self, x: torch.Tensor, x2: torch.Tensor, r: torch.Tensor, ez: torch.Tensor,
                cov: torch.Tensor) -> None:
        m, c = self.net, self.config
        k, n, l = ez.shape
        nk = r.sum(0).clamp_min(1e-6)                                   # (K,)
        ex = torch.cat([ez, torch.ones(k, n, 1, dtype=x.dtype, device=x.device)], 2)  # (K, N, l+1)
        rex = ex * r.T[:, :, None]
        s1 = (x.T @ rex.permute(1, 0, 2).reshape(n, -1)).view(-1, k, l + 1).permute(1, 0, 2)  # (K, D, l+1)
        s2 = rex.transpose(1, 2) @ ex                                   # (K, l+1, l+1)
        s2[:, :-1, :-1] += nk[:, None, None] * cov
        s2 = s2.double() + 1e-6 * torch.eye(l + 1, dtype=torch.float64, device=x.device)  # ridge
        at = torch.linalg.solve(s2, s1.double().transpose(1, 2)).transpose(1, 2).to(x.dtype)
        psi = (r.T @ x2 - (at * s1).sum(2)) / nk[:, None]
        # a component holding (almost) no data keeps its parameters instead of fitting noise
        ok = (nk >= l + 2)[:, None]
        m.A.copy_(torch.where(ok[:, :, None], at[:, :, :-1], m.A))
        m.mu.copy_(torch.where(ok, at[:, :, -1], m.mu))
        m.log_psi.copy_(torch.where(ok, psi.clamp_min(c.psi_floor).log(), m.log_psi))
        m.log_pi.copy_(torch.log(nk / len(x)))

    @torch.no_grad()
    def _fit(self, data: torch.Tensor, steps: int, device: torch.device, progress: bool) -> dict[str, list[float]]:
        x = data.float().div(127.5).sub(1.0)
        if self.config.flip:
            x = torch.cat([x, x.flip(3)])
        x = x.flatten(1).to(device)
        x2 = x.pow(2)
        self._init(x)
        hist: dict[str, list[float]] = {"nll_per_dim": []}
        with progress_bar(steps, "gmm EM", progress) as advance:
            for step in range(steps):
                ll, ez, cov = self._e_step(x, x2)
                tot = torch.logsumexp(ll, 1)
                hist["nll_per_dim"].append(float(-tot.mean() / x.shape[1]))
                self._m_step(x, x2, torch.exp(ll - tot[:, None]).to(x.dtype), ez, cov)
                advance(nll_per_dim=hist["nll_per_dim"][-1])
                if self._step_end(step, hist):
                    break
        return hist

    def _sample_batch(self, gens: Sequence[torch.Generator], device: torch.device) -> torch.Tensor:
        m, c = self.net, self.config
        u = rand(gens, (1,), device)[:, 0]
        cdf = torch.cumsum(torch.softmax(m.log_pi.float(), 0), 0)
        k = torch.searchsorted(cdf, u.contiguous()).clamp_max(len(cdf) - 1)
        z = randn(gens, (c.latent_dim,), device)
        eps = randn(gens, (m.mu.shape[1],), device)
        x = m.mu[k] + torch.einsum("ndl,nl->nd", m.A[k], z)
        if c.sample_noise:
            x = x + torch.exp(0.5 * m.log_psi[k]) * eps
        return x.view(-1, 3, c.resolution, c.resolution).clamp(-1, 1)
