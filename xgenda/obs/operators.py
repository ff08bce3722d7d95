"""Differentiable observation operators on a batch of normalized states.

An operator maps a state ``x`` of shape (B, C, H, W) (normalized units) to the
vector of model equivalents of the observations of each sample, shape (B, m).
All operators here are linear, so their adjoint ``A^T`` is a vector-Jacobian
product (:func:`adjoint`), and they are plain torch code (autograd works through
them).

- :class:`GaussianBlur`: separable Gaussian blur with mask-aware (normalized
  convolution) or reflect padding, the operator of smoothed L4 products;
- :class:`TotalCurrent`: for a prior of the decomposed state (``ssh``, ``u_res``,
  ``v_res``), the current ``u_geo(ssh) + u_res`` (and ``v``) as a linear map of the
  state: what total-current observations (drifters, HF radar) see once the Ekman part
  of the wind is removed from them;
- :class:`ObservationOperator`: every observation of a batch as a weighted sum of
  up to four pixels of the state, of a blurred copy of one channel or of the total
  current. Bilinear interpolation at point positions (4 weights), masked identity
  for gridded data (1 weight) and the blurred field at product pixels (1 weight) all
  fit this form.

Samples of one batch may hold different observations (different analysis
times): they are padded to the longest with rows of weight 0, value 0 and error
1, which leave every guidance method unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from xgenda.obs.table import ObservationTable

__all__ = ["GaussianBlur", "ObservationOperator", "ObservationTable", "TotalCurrent", "adjoint",
           "blur_matrix", "derivative_matrix"]

Padding = Literal["mask", "reflect"]


class GaussianBlur:
    """Separable Gaussian blur of (B, H, W) fields that respects land and domain edges.

    With ``padding="mask"`` the blur is a normalized convolution,
    ``blur(x m) / blur(m)`` with the ocean mask ``m`` and zero padding: only ocean
    pixels inside the domain are averaged, so land never leaks into the ocean and
    a constant field stays constant up to the coast and the domain edge. With
    ``padding="reflect"`` the field (and the mask) are mirrored at the domain edge
    before the same normalized convolution.

    The 1-D convolutions are applied as (H, H) and (W, W) matrices (the padding
    folded in): matrix products are much faster than small convolutions on CPU,
    backward passes included.

    Parameters
    ----------
    sigma_px : (float, float)
        Standard deviation of the kernel along (lat, lon) in pixels (0: no blur along
        that axis).
    shape : (int, int)
        (H, W) of the fields.
    mask : Tensor (H, W), optional
        1 over ocean, 0 over land; default all ocean.
    padding : {"mask", "reflect"}
        Edge treatment, see above.
    truncate : float
        Kernel half-width in standard deviations.
    """

    def __init__(self, sigma_px: tuple[float, float], shape: tuple[int, int],
                 mask: torch.Tensor | None = None, padding: Padding = "mask",
                 truncate: float = 4.0, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        if padding not in ("mask", "reflect"):
            raise ValueError(f"padding must be 'mask' or 'reflect', got {padding!r}")
        if any(s < 0 or not math.isfinite(s) for s in sigma_px):
            raise ValueError(f"blur sigma must be finite and >= 0 pixels, got {sigma_px}")
        self.sigma_px = (float(sigma_px[0]), float(sigma_px[1]))
        self.shape = (int(shape[0]), int(shape[1]))
        self.padding = padding
        rows, cols = (torch.as_tensor(blur_matrix(n, s, padding, truncate), device=device,
                                      dtype=dtype)
                      for n, s in zip(self.shape, self.sigma_px, strict=True))
        self._rows, self._cols_t = rows, cols.T.contiguous()
        if mask is None:
            mask = torch.ones(self.shape, device=device, dtype=dtype)
        self.mask = mask.to(device=device, dtype=dtype)
        # the normalization is a constant: computed once
        self._norm = self._convolve(self.mask[None]).clamp_min(torch.finfo(dtype).tiny)

    def _convolve(self, x: torch.Tensor) -> torch.Tensor:
        return self._rows @ x @ self._cols_t

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Blurred copy of ``x`` (B, H, W); values on land are meaningless (0-weighted)."""
        return self._convolve(x * self.mask) / self._norm


def blur_matrix(n: int, sigma: float, padding: Padding = "mask",
                truncate: float = 4.0) -> np.ndarray:
    """(n, n) matrix of a 1-D Gaussian convolution (kernel truncated at ``truncate`` sigma).

    ``padding="mask"`` drops the taps outside ``[0, n)`` (zero padding; the caller
    normalizes), ``"reflect"`` mirrors them about the edge pixels (numpy's "reflect").
    """
    out = np.zeros((n, n))
    if sigma == 0:
        return np.eye(n)
    radius = max(1, math.ceil(truncate * sigma))
    offsets = np.arange(-radius, radius + 1)
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)
    taps /= taps.sum()
    for i in range(n):
        src = i + offsets
        if padding == "reflect" and n > 1:
            period = 2 * (n - 1)
            src = np.abs(((src % period) + period) % period)
            src = np.where(src >= n, period - src, src)
            np.add.at(out[i], src, taps)
        else:
            inside = (src >= 0) & (src < n)
            np.add.at(out[i], src[inside], taps[inside])
    return out


def derivative_matrix(n: int) -> np.ndarray:
    """(n, n) matrix of ``d/d(index)``: centred inside, one-sided at the two ends.

    The same stencil as the derivatives of :mod:`xgenda.diagnostics.dynamics`.
    """
    if n < 2:
        raise ValueError(f"a derivative needs at least 2 points, got {n}")
    out = np.zeros((n, n))
    rows = np.arange(1, n - 1)
    out[rows, rows - 1], out[rows, rows + 1] = -0.5, 0.5
    out[0, :2] = (-1.0, 1.0)
    out[n - 1, n - 2:] = (-1.0, 1.0)
    return out


class TotalCurrent:
    """The current ``u_geo(ssh) + u_res``, ``v_geo(ssh) + v_res`` of normalized states.

    For a prior of the decomposed state (:mod:`xgenda.currents`), a total-current
    observation minus the Ekman current of the wind observes
    ``u_geo + u_res``: a linear map of the state. ``u_geo = -(g/f) dssh/dy`` and
    ``v_geo = (g/f) dssh/dx`` use exactly the discretization of
    :func:`xgenda.diagnostics.dynamics.geostrophic_currents` (centred differences,
    one-sided at the domain edges, metrics on the sphere), set to 0 where that
    function gives NaN (a stencil touching land, within ``equator_band_deg`` of the
    equator), as :func:`xgenda.currents.decompose_currents` does.

    Called on normalized states (B, C, H, W) it gives (B, 2, H, W): the two total
    currents in units of the std of ``u_res`` and ``v_res`` respectively.

    Parameters
    ----------
    lat, lon : ndarray (H,), (W,)
        Grid coordinates (degrees, ascending).
    channels : (int, int, int)
        Positions of ``ssh``, ``u_res``, ``v_res`` in the state.
    std : sequence of float (C,)
        Normalizer std of each channel (physical units).
    land : ndarray (H, W) bool, optional
        True on land.
    equator_band_deg : float
        Geostrophy is not used closer than this to the equator.

    """

    def __init__(self, lat: np.ndarray, lon: np.ndarray, channels: tuple[int, int, int],
                 std: Sequence[float] | np.ndarray, land: np.ndarray | None = None, *,
                 equator_band_deg: float = 5.0, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> None:
        import xarray as xr

        from xgenda.grid import GRAVITY, coriolis, metrics

        lat = np.asarray(lat, dtype=np.float64)
        lon = np.asarray(lon, dtype=np.float64)
        height, width = lat.size, lon.size
        land = np.zeros((height, width), bool) if land is None else np.asarray(land, bool)
        if land.shape != (height, width):
            raise ValueError(f"land mask shape {land.shape} does not match the grid "
                             f"({height}, {width})")
        std = np.asarray(std, dtype=np.float64)
        self.channels = tuple(int(c) for c in channels)
        ssh_c, u_c, v_c = self.channels
        dx, dy = metrics(xr.Dataset(coords={"lat": ("lat", lat), "lon": ("lon", lon)}))
        dx = np.broadcast_to(np.asarray(dx.values, np.float64)[:, None], (height, width))
        dy = np.broadcast_to(np.asarray(dy.values, np.float64)[:, None], (height, width))
        f = np.asarray(coriolis(lat), dtype=np.float64)
        g_over_f = np.where(np.abs(lat) >= equator_band_deg, GRAVITY / np.where(f == 0, 1, f),
                            0.0)[:, None]
        d_lat, d_lon = derivative_matrix(height), derivative_matrix(width)
        # a derivative is defined where every pixel of its stencil is ocean
        wet = (~land).astype(np.float64)
        ok_y = (np.abs(d_lat) > 0).astype(np.float64) @ (1 - wet) == 0
        ok_x = (1 - wet) @ (np.abs(d_lon) > 0).astype(np.float64).T == 0
        # physical u_geo = coef_u * (D_lat @ ssh), converted to units of std(u_res)
        coef_u = np.where(ok_y, -g_over_f / dy, 0.0) * std[ssh_c] / std[u_c]
        coef_v = np.where(ok_x, g_over_f / dx, 0.0) * std[ssh_c] / std[v_c]

        def tensor(a: np.ndarray) -> torch.Tensor:
            return torch.as_tensor(np.ascontiguousarray(a), device=device, dtype=dtype)

        self._d_lat, self._d_lon_t = tensor(d_lat), tensor(d_lon.T)
        self._coef_u, self._coef_v = tensor(coef_u), tensor(coef_v)
        self.shape = (height, width)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 2, H, W) total currents of normalized states ``x`` (B, C, H, W)."""
        ssh_c, u_c, v_c = self.channels
        ssh = x[:, ssh_c]
        u = self._coef_u * (self._d_lat @ ssh) + x[:, u_c]
        v = self._coef_v * (ssh @ self._d_lon_t) + x[:, v_c]
        return torch.stack([u, v], dim=1)

    @classmethod
    def for_grid(cls, lat: np.ndarray, lon: np.ndarray, variables: Sequence[str],
                 std: Sequence[float] | np.ndarray, land: np.ndarray | None = None,
                 **kwargs: object) -> TotalCurrent:
        """The map for a state with channels ``variables`` (needs ``ssh``, ``u_res``,
        ``v_res``)."""
        variables = list(variables)
        missing = [v for v in ("ssh", "u_res", "v_res") if v not in variables]
        if missing:
            raise ValueError(f"total currents of a decomposed state need the channels ssh, "
                             f"u_res, v_res; the state has {variables} (missing {missing})")
        return cls(lat, lon, (variables.index("ssh"), variables.index("u_res"),
                              variables.index("v_res")), std, land, **kwargs)  # type: ignore[arg-type]


class ObservationOperator:
    """The linear observation operator of a batch, in normalized units.

    Built from one :class:`ObservationTable` per analysis time and the analysis
    time of each sample; converts the tables to normalized units with the
    normalizer's mean field and std (``y_n = y / std - A(mean / std)`` and
    ``error_n = error / std``, exact because ``A`` is linear).

    Parameters
    ----------
    tables : sequence of ObservationTable
        Observations of each analysis time.
    sample_time : sequence of int (B,)
        Position in ``tables`` of each sample of the batch.
    shape : (int, int)
        (H, W) of the analysis grid; states may be larger (a tiling canvas), the
        grid is their top-left (H, W) corner.
    std : sequence of float (C,)
        Normalizer std of each channel (physical units).
    mean : ndarray (T or 1, C, H, W), optional
        Normalizer mean per analysis time (or one for all), physical units, NaN or
        anything on land; default 0.
    mask : ndarray (H, W), optional
        1 over ocean, 0 over land (for the blur).
    padding : {"mask", "reflect"}
        Blur edge treatment.
    time_error_growth : float or sequence of float (C,)
        Inflation of the normalized error with time distance:
        ``error_n = sqrt(error_n^2 + (growth |dt_days|)^2)``.
    currents : TotalCurrent, optional
        Needed when a table holds total-current rows (``derived >= 0``): the map from
        the state to its total currents.

    Attributes
    ----------
    y, error : Tensor (B, m)
        Normalized observations and error std (padded rows: 0 and 1).
    valid : Tensor (B, m) bool
        False on padding rows.
    """

    def __init__(self, tables: Sequence[ObservationTable], sample_time: Sequence[int],
                 shape: tuple[int, int], std: Sequence[float] | np.ndarray,
                 mean: np.ndarray | None = None, mask: np.ndarray | None = None,
                 padding: Padding = "mask", time_error_growth: float | Sequence[float] = 0.0,
                 device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32,
                 currents: TotalCurrent | None = None) -> None:
        self.shape = (int(shape[0]), int(shape[1]))
        self.channels = len(std)
        self.device, self.dtype = torch.device(device), dtype
        height, width = self.shape
        self.blur_keys: list[tuple[int, float, float]] = []
        mask_t = None if mask is None else torch.as_tensor(np.asarray(mask, np.float64),
                                                           device=device, dtype=dtype)
        # extended channels: C raw channels, the total currents u, v (with `currents`),
        # then one per distinct (channel, blur) pair
        if any((t.derived >= 0).any() for t in tables) and currents is None:
            raise ValueError("the observations include total currents of a decomposed "
                             "state: pass currents=TotalCurrent(...)")
        self._currents = currents
        n_derived = 2 if currents is not None else 0
        per_time = []
        for t in tables:
            blur_ext = np.full(len(t), -1, dtype=np.int64)
            for k, (c, b) in enumerate(zip(t.channel, t.blur, strict=True)):
                if b >= 0:
                    key = (int(c), *t.blurs[int(b)])
                    if key not in self.blur_keys:
                        self.blur_keys.append(key)
                    blur_ext[k] = self.channels + n_derived + self.blur_keys.index(key)
            ext = np.where(blur_ext >= 0, blur_ext, t.channel.astype(np.int64))
            ext = np.where(t.derived >= 0, self.channels + t.derived, ext)
            per_time.append(ext)
        self._blurs = [GaussianBlur((sy, sx), self.shape, mask_t, padding, device=device,
                                    dtype=dtype) for _, sy, sx in self.blur_keys]

        self.sizes = [len(t) for t in tables]
        m = max(self.sizes, default=0)
        n_time = len(tables)
        index = np.zeros((n_time, m, 4), dtype=np.int64)
        weight = np.zeros((n_time, m, 4))
        value = np.zeros((n_time, m))
        error = np.ones((n_time, m))
        dt = np.zeros((n_time, m))
        chan = np.zeros((n_time, m), dtype=np.int64)
        for k, t in enumerate(tables):
            n = len(t)
            index[k, :n] = per_time[k][:, None] * (height * width) + t.index
            weight[k, :n] = t.weight
            value[k, :n] = t.value
            error[k, :n] = t.error
            dt[k, :n] = t.dt_days
            chan[k, :n] = t.channel
        std_arr = np.asarray(std, dtype=np.float64)
        valid = np.arange(m)[None, :] < np.asarray(self.sizes)[:, None]
        growth = np.broadcast_to(np.asarray(time_error_growth, dtype=np.float64),
                                 (self.channels,))
        scale = np.where(valid, std_arr[chan], 1.0)
        value_n = np.where(valid, value / scale, 0.0)
        error_n = np.where(valid, np.sqrt((error / scale) ** 2 + (growth[chan] * dt) ** 2), 1.0)

        self.sample_time = torch.as_tensor(np.asarray(sample_time, dtype=np.int64),
                                           device=device)
        self._index = torch.as_tensor(index.reshape(n_time, m * 4), device=device)
        self._weight = torch.as_tensor(weight, device=device, dtype=dtype)

        if mean is not None and n_time and m:
            mean = np.nan_to_num(np.asarray(mean, dtype=np.float64)) / std_arr[None, :, None, None]
            mean_t = torch.as_tensor(mean, device=device, dtype=dtype)
            mean_t = mean_t.expand(n_time, *mean_t.shape[1:]) if mean_t.shape[0] == 1 else mean_t
            offset = self._apply(mean_t, torch.arange(n_time, device=device))
            value_n = value_n - offset.double().cpu().numpy() * valid
        self.y = torch.as_tensor(value_n, device=device, dtype=dtype)[self.sample_time]
        self.error = torch.as_tensor(error_n, device=device, dtype=dtype)[self.sample_time]
        self.valid = torch.as_tensor(valid, device=device)[self.sample_time]

    @property
    def batch_size(self) -> int:
        return int(self.sample_time.numel())

    @property
    def size(self) -> int:
        """Length m of the (padded) observation vector of each sample."""
        return int(self.y.shape[1])

    def extended(self, x: torch.Tensor) -> torch.Tensor:
        """The grid part of ``x`` with the total currents (if any) and the blurred channels
        appended: (B, C [+ 2] + nblur, H, W)."""
        height, width = self.shape
        x = x[..., :height, :width]
        parts = [x]
        if self._currents is not None:
            parts.append(self._currents(x))
        if self._blurs:
            parts.append(torch.stack([blur(x[:, c]) for (c, _, _), blur in
                                      zip(self.blur_keys, self._blurs, strict=True)], dim=1))
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)

    def _apply(self, x: torch.Tensor, sample_time: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        m = self._weight.shape[1]
        if m == 0:
            return x.new_zeros(batch, 0)
        flat = self.extended(x).reshape(batch, -1)
        values = torch.gather(flat, 1, self._index[sample_time]).reshape(batch, m, 4)
        return (values * self._weight[sample_time]).sum(-1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Model equivalents ``A x`` (B, m) of the observations, normalized units.

        Parameters
        ----------
        x : Tensor (B, C, H', W')
            Normalized states with H' >= H and W' >= W.
        """
        if x.shape[0] != self.batch_size:
            raise ValueError(f"operator was built for a batch of {self.batch_size}, "
                             f"got {x.shape[0]} states")
        return self._apply(x, self.sample_time)

    def subset(self, samples: torch.Tensor | slice) -> ObservationOperator:
        """The operator of a sub-batch (shares the compiled arrays)."""
        out = object.__new__(ObservationOperator)
        out.__dict__.update(self.__dict__)
        out.sample_time = self.sample_time[samples]
        out.y, out.error, out.valid = self.y[samples], self.error[samples], self.valid[samples]
        return out


def adjoint(operator: ObservationOperator, v: torch.Tensor,
            like: torch.Tensor) -> torch.Tensor:
    """``A^T v``: the adjoint of a linear operator by a vector-Jacobian product.

    Parameters
    ----------
    operator : callable
        Linear ``A(x) -> (B, m)``.
    v : Tensor (B, m)
        Vector in observation space.
    like : Tensor (B, C, H, W)
        A state with the shape, dtype and device of the result.

    Returns
    -------
    Tensor (B, C, H, W)
    """
    with torch.enable_grad():
        z = torch.zeros_like(like, requires_grad=True)
        (grad,) = torch.autograd.grad(operator(z), z, grad_outputs=v.to(like.dtype))
    return grad
