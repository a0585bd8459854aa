"""Per-case segmentation metrics: one label's reference and predicted masks -> one value each.

Every label is scored as a binary mask (``volume == label_value``). The formulas and the
implementations:

``dice``
    ``2|A∩B| / (|A| + |B|)`` (Dice 1945), ``monai.metrics.compute_dice``.
``iou``
    ``|A∩B| / |A∪B|`` (Jaccard 1912), ``monai.metrics.compute_iou``; ``iou = dice/(2 - dice)``.
``hd95``, ``hd``
    Hausdorff distance (Huttenlocher et al. 1993) in mm: the larger of the two directed
    distances between the mask surfaces, each the 95th percentile (``hd95``) or the maximum
    (``hd``) of the distances from the surface voxels of one mask to the surface of the other,
    ``monai.metrics.compute_hausdorff_distance(percentile=95, spacing=...)``.
``assd``
    Average symmetric surface distance in mm: the mean of the distances of every surface voxel
    of either mask to the other surface, ``monai.metrics.compute_average_surface_distance
    (symmetric=True, spacing=...)``.
``nsd``
    Normalised surface distance (surface Dice, Nikolov et al. 2021) at ``tolerance_mm``: the
    share of both surfaces lying within the tolerance of the other surface,
    ``monai.metrics.compute_surface_dice(class_thresholds=[tolerance_mm], spacing=...)``.
``volume-error``, ``abs-volume-error``, ``relative-volume-error``
    ``V(B) - V(A)``, ``|V(B) - V(A)|`` in mL and ``(V(B) - V(A)) / V(A)``, with ``V`` the
    voxel count times the voxel volume ``prod(spacing)`` mm³ / 1000.
``lesion-f1``
    Lesion-wise detection F1 (as in Commowick et al. 2018): the connected components of each
    mask (``scipy.ndimage.label``, 26-connectivity); a reference component is detected when
    the prediction overlaps it by at least ``min_overlap`` voxels, a predicted component is a
    true positive when it overlaps the reference by at least ``min_overlap`` voxels;
    ``F1 = 2 P R / (P + R)`` with lesion-wise sensitivity ``R`` (detected reference components
    / reference components) and precision ``P`` (true-positive predicted components /
    predicted components), as the lesion-wise F1 of the MetricsReloaded implementation
    (``lesion_f1_score``).

Here ``A`` is the reference mask and ``B`` the predicted one; distances are Euclidean in mm
(the voxel spacing of the NIfTI header), on the surface voxels MONAI extracts (the mask minus
its erosion). The four boundary metrics of a label share one call of MONAI's
``monai.metrics.utils.get_edge_surface_distance`` (the function each of the ``compute_*``
functions above calls) and apply those functions' reductions to it; the tests check the values
against the ``compute_*`` functions called directly.

Empty masks (Metrics Reloaded: Maier-Hein et al. 2024, Nat. Methods 21:195-212,
doi:10.1038/s41592-023-02151-z, and its reference implementation MetricsReloaded
``BinaryPairwiseMeasures``; Reinke et al. 2024, Nat. Methods 21:182-194,
doi:10.1038/s41592-023-02150-0). A case is never dropped: each row carries a ``status`` and a
value chosen as follows.

``both-empty`` (no reference and no predicted voxel: a correct "nothing there")
    The best value of every metric: ``dice = iou = nsd = lesion-f1 = 1``, distances ``0`` mm,
    volume errors ``0`` (MetricsReloaded sets ``dsc = 1``, distances ``0``, lesion F1 ``1``
    and the relative volume error ``0`` in this case; we also set ``iou`` and ``nsd`` to 1 so
    that ``iou = dice/(2 - dice)`` holds on every row).
``empty-reference`` (predicted voxels where the reference has none)
    ``dice = iou = nsd = lesion-f1 = 0`` (the prediction is entirely false positive);
    distances are undefined (no reference surface) and take the worst value the image allows,
    its diagonal ``sqrt(sum((shape * spacing)^2))`` mm, so that the failure weighs in means
    and ranks instead of disappearing (the worst-value convention Metrics Reloaded recommends
    for a missing distance, as the BraTS challenges do with their fixed 373.13 mm); volume
    errors are defined; ``relative-volume-error`` is undefined (division by 0) and is ``NaN``.
``empty-prediction`` (reference voxels, none predicted)
    ``dice = iou = nsd = lesion-f1 = 0``, distances the image diagonal as above, volume errors
    defined (``relative-volume-error = -1``).

The statistics (``brainbench.segmentation.statistics``) count the rows of each status and
say how they entered every estimate.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from brainbench.errors import UserError

# The names of the spec, the case-metrics table and ``metric_info``: defined once, by the spec.
from brainbench.spec.models import SEGMENTATION_METRICS

#: Statuses of a row (see the module docstring).
STATUSES = ("ok", "empty-reference", "empty-prediction", "both-empty")
_BOUNDARY = ("hd95", "hd", "assd", "nsd")
_OVERLAPS = ("dice", "iou", "nsd", "lesion-f1")


@dataclass(frozen=True)
class SegmentationMetric:
    """One metric of a segmentation benchmark, with its parameters.

    Attributes
    ----------
    name
        One of :data:`SEGMENTATION_METRICS`.
    tolerance_mm
        The tolerance of ``nsd`` in mm (required there, forbidden elsewhere).
    min_overlap
        ``lesion-f1``: the overlap in voxels for a component to count as detected.
    """

    name: str
    tolerance_mm: float | None = None
    min_overlap: int = 1

    def __post_init__(self) -> None:
        if self.name not in SEGMENTATION_METRICS:
            raise UserError(
                f"Unknown segmentation metric {self.name!r}. "
                f"Available: {', '.join(SEGMENTATION_METRICS)}."
            )
        if self.name == "nsd" and (self.tolerance_mm is None or not self.tolerance_mm > 0):
            raise UserError(
                "Metric nsd needs a tolerance in mm (tolerance_mm > 0, e.g. "
                "{name: nsd, tolerance_mm: 1.0}): the normalised surface distance counts the "
                "surface within that distance of the other surface."
            )
        if self.name != "nsd" and self.tolerance_mm is not None:
            raise UserError(f"Metric {self.name} takes no tolerance_mm (only nsd does).")
        if self.min_overlap < 1:
            raise UserError("lesion-f1: min_overlap must be at least 1 voxel.")


def _status(n_ref: int, n_pred: int) -> str:
    if n_ref == 0 and n_pred == 0:
        return "both-empty"
    if n_ref == 0:
        return "empty-reference"
    if n_pred == 0:
        return "empty-prediction"
    return "ok"


def _tensor(mask: np.ndarray):
    import torch

    # MONAI reduces in float32 whatever the input: values carry ~1e-7 relative rounding.
    return torch.from_numpy(np.ascontiguousarray(mask, dtype=np.float32))


def _monai_overlap(name: str, ref: np.ndarray, pred: np.ndarray) -> float:
    """Dice or IoU by MONAI on two binary masks (one-hot batches: batch, channel, *spatial)."""
    from monai import metrics as mm

    y, yp = _tensor(ref)[None, None], _tensor(pred)[None, None]
    fn = mm.compute_dice if name == "dice" else mm.compute_iou
    return float(fn(yp, y, include_background=True, ignore_empty=False).reshape(-1)[0])


class _Surfaces:
    """MONAI's surface distances of two non-empty masks, computed once for every boundary
    metric of a label.

    ``monai.metrics.utils.get_edge_surface_distance(symmetric=True)`` is the function that
    ``compute_hausdorff_distance``, ``compute_average_surface_distance`` and
    ``compute_surface_dice`` each call; the reductions below are theirs (``torch.quantile``
    of each direction then the larger, the maximum, the mean of both directions pooled, the
    share within the tolerance), and tests/segmentation checks the values against those
    functions called directly.
    """

    def __init__(self, ref: np.ndarray, pred: np.ndarray, spacing) -> None:
        from monai.metrics.utils import get_edge_surface_distance

        with warnings.catch_warnings():
            # MONAI 1.5+ warns about an argument its own distance code passes.
            warnings.simplefilter("ignore", FutureWarning)
            _, distances, _ = get_edge_surface_distance(
                _tensor(pred), _tensor(ref), spacing=[float(s) for s in spacing], symmetric=True
            )
        # (prediction surface -> reference, reference surface -> prediction)
        self.distances = tuple(d.double() for d in distances)

    def value(self, metric: SegmentationMetric) -> float:
        import torch

        d = self.distances
        if metric.name == "hd95":
            return float(max(torch.quantile(x, 0.95) for x in d))
        if metric.name == "hd":
            return float(max(x.max() for x in d))
        if metric.name == "assd":
            return float(torch.cat(d).mean())
        tol = float(metric.tolerance_mm)
        return float(sum((x <= tol).sum() for x in d) / sum(len(x) for x in d))


def _components(mask: np.ndarray) -> tuple[np.ndarray, int]:
    from scipy import ndimage

    return ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))


def lesion_counts(ref: np.ndarray, pred: np.ndarray, min_overlap: int = 1) -> dict[str, int]:
    """Connected components (26-connectivity) of both masks and how many match.

    Returns ``n_reference``, ``n_predicted``, ``detected`` (reference components overlapped
    by the prediction on >= ``min_overlap`` voxels) and ``true_positive_predicted``
    (predicted components overlapping the reference on >= ``min_overlap`` voxels).
    """
    ref_lab, n_ref = _components(ref)
    pred_lab, n_pred = _components(pred)
    # Overlap of each component with the other mask, by one bincount per side.
    ref_hits = np.bincount(ref_lab[pred], minlength=n_ref + 1)[1:]
    pred_hits = np.bincount(pred_lab[ref], minlength=n_pred + 1)[1:]
    return {
        "n_reference": int(n_ref),
        "n_predicted": int(n_pred),
        "detected": int((ref_hits >= min_overlap).sum()),
        "true_positive_predicted": int((pred_hits >= min_overlap).sum()),
    }


def lesion_f1(ref: np.ndarray, pred: np.ndarray, min_overlap: int = 1) -> float:
    """Lesion-wise detection F1 of two binary masks (see the module docstring); 1 when both
    are empty, 0 when exactly one is."""
    c = lesion_counts(ref, pred, min_overlap)
    if c["n_reference"] == 0 and c["n_predicted"] == 0:
        return 1.0
    if c["n_reference"] == 0 or c["n_predicted"] == 0:
        return 0.0
    sens = c["detected"] / c["n_reference"]
    prec = c["true_positive_predicted"] / c["n_predicted"]
    return 0.0 if sens + prec == 0 else 2 * sens * prec / (sens + prec)


def _label_values(
    metrics: Sequence[SegmentationMetric],
    ref: np.ndarray,
    pred: np.ndarray,
    spacing: tuple[float, float, float],
    status: str,
) -> list[float]:
    """The value of every metric on one label's binary masks."""
    surfaces = None
    out = []
    for metric in metrics:
        if status == "ok" and metric.name in _BOUNDARY:
            surfaces = surfaces or _Surfaces(ref, pred, spacing)
            out.append(surfaces.value(metric))
        else:
            out.append(_binary_value(metric, ref, pred, spacing, status))
    return out


def _binary_value(
    metric: SegmentationMetric,
    ref: np.ndarray,
    pred: np.ndarray,
    spacing: tuple[float, float, float],
    status: str,
) -> float:
    """Overlap and volume metrics, and every metric of an empty mask."""
    voxel_ml = float(np.prod(spacing)) / 1000.0
    v_ref, v_pred = ref.sum() * voxel_ml, pred.sum() * voxel_ml
    name = metric.name
    if name == "volume-error":
        return float(v_pred - v_ref)
    if name == "abs-volume-error":
        return float(abs(v_pred - v_ref))
    if name == "relative-volume-error":
        if status == "both-empty":
            return 0.0
        return float("nan") if status == "empty-reference" else float((v_pred - v_ref) / v_ref)
    if name == "lesion-f1":
        return lesion_f1(ref, pred, metric.min_overlap)
    if status == "both-empty":
        return 1.0 if name in _OVERLAPS else 0.0
    if status != "ok":
        if name in _OVERLAPS:
            return 0.0
        # The largest distance inside the field of view (see the module docstring).
        return float(np.sqrt(np.sum((np.asarray(ref.shape) * np.asarray(spacing)) ** 2)))
    return _monai_overlap(name, ref, pred)


def case_metrics(
    reference: np.ndarray,
    prediction: np.ndarray,
    *,
    spacing: tuple[float, float, float],
    labels: Mapping[int, str],
    metrics: Sequence[SegmentationMetric],
) -> list[dict]:
    """Every metric of every label of one case.

    Parameters
    ----------
    reference, prediction
        Integer label volumes (0 = background) of the same 3-D shape.
    spacing
        Voxel size in mm (the NIfTI header's zooms).
    labels
        Label value -> name; each label is scored as a binary mask.
    metrics
        The metrics to compute.

    Returns
    -------
    list of dict
        One dict per (label, metric): ``label`` (name), ``label_value``, ``metric``,
        ``tolerance_mm`` (NaN unless nsd), ``value`` (NaN where undefined), ``status``
        (``ok`` / ``empty-reference`` / ``empty-prediction`` / ``both-empty``, see the module
        docstring for the values these get), ``reference_voxels``, ``predicted_voxels``.

    Examples
    --------
    >>> ref = np.zeros((8, 8, 8), dtype=np.uint8); ref[2:6, 2:6, 2:6] = 1
    >>> pred = np.zeros_like(ref); pred[3:7, 2:6, 2:6] = 1
    >>> rows = case_metrics(ref, pred, spacing=(1.0, 1.0, 1.0), labels={1: "lesion"},
    ...                     metrics=[SegmentationMetric("dice")])
    >>> rows[0]["metric"], round(rows[0]["value"], 4), rows[0]["status"]
    ('dice', 0.75, 'ok')
    """
    reference = np.asarray(reference)
    prediction = np.asarray(prediction)
    if reference.ndim != 3 or reference.shape != prediction.shape:
        raise UserError(
            f"Segmentation masks must be 3-D volumes of the same shape; got reference "
            f"{reference.shape} and prediction {prediction.shape}. Resample the prediction "
            "onto the reference grid (same affine and shape) before scoring."
        )
    if len(spacing) != 3 or not all(float(s) > 0 for s in spacing):
        raise UserError(f"Voxel spacing must be three positive sizes in mm; got {spacing}.")
    for arr, what in ((reference, "reference"), (prediction, "prediction")):
        integral = np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.bool_)
        if not integral and not np.array_equal(arr, np.round(arr)):
            raise UserError(
                f"The {what} mask holds non-integer values (dtype {arr.dtype}); masks "
                "must be integer label volumes (0 = background)."
            )
    spacing = tuple(float(s) for s in spacing)
    rows: list[dict] = []
    for value, name in labels.items():
        ref = reference == value
        pred = prediction == value
        n_ref, n_pred = int(ref.sum()), int(pred.sum())
        status = _status(n_ref, n_pred)
        values = _label_values(metrics, ref, pred, spacing, status)
        for metric, v in zip(metrics, values, strict=True):
            rows.append(
                {
                    "label": name,
                    "label_value": int(value),
                    "metric": metric.name,
                    "tolerance_mm": (
                        float(metric.tolerance_mm) if metric.tolerance_mm is not None else np.nan
                    ),
                    "value": v,
                    "status": status,
                    "reference_voxels": n_ref,
                    "predicted_voxels": n_pred,
                }
            )
    return rows


__all__ = [
    "SEGMENTATION_METRICS",
    "STATUSES",
    "SegmentationMetric",
    "case_metrics",
    "lesion_counts",
    "lesion_f1",
]
