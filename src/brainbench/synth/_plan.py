"""The cohort's plan: sites, scanners, participants, sessions and every effect they carry.

The plan is drawn before any image, from the configuration and the seed alone; the images are
then rendered from it. It is what the ground truth records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from brainbench.synth._config import SynthConfig

# Random streams: a SeedSequence per purpose, so that one part does not shift another.
STREAM_COHORT = 0
STREAM_SCANNER = 1
STREAM_ANATOMY = 2
STREAM_IMAGE = 3

# (Manufacturer, ManufacturersModelName, MagneticFieldStrength)
CATALOGUE: tuple[tuple[str, str, float], ...] = (
    ("Siemens", "Prisma", 3.0),
    ("GE", "DISCOVERY MR750", 3.0),
    ("Philips", "Achieva", 1.5),
    ("Siemens", "Avanto", 1.5),
    ("Philips", "Ingenia", 3.0),
    ("GE", "Signa HDxt", 1.5),
    ("Siemens", "Skyra", 3.0),
    ("Siemens", "Aera", 1.5),
    ("GE", "SIGNA Premier", 3.0),
    ("Philips", "Ingenia", 1.5),
    ("Siemens", "TrioTim", 3.0),
    ("GE", "Optima MR450w", 1.5),
    ("Philips", "Achieva dStream", 3.0),
    ("Siemens", "Espree", 1.5),
)

SEQUENCES: dict[str, dict[str, float | str]] = {
    "Siemens": {
        "PulseSequenceType": "MPRAGE",
        "RepetitionTime": 2.3,
        "EchoTime": 0.00298,
        "InversionTime": 0.9,
        "FlipAngle": 9,
    },
    "GE": {
        "PulseSequenceType": "IR-FSPGR",
        "RepetitionTime": 0.0073,
        "EchoTime": 0.003,
        "InversionTime": 0.4,
        "FlipAngle": 11,
    },
    "Philips": {
        "PulseSequenceType": "3D TFE",
        "RepetitionTime": 0.0068,
        "EchoTime": 0.0031,
        "InversionTime": 0.9,
        "FlipAngle": 9,
    },
}

#: Global grey-matter fraction lost per unit of AD atrophy amount, and extra ventricle expansion.
AD_GLOBAL_GM_LOSS = 0.04
AD_VENTRICLE_EXPANSION = 0.3

# Tissue intensities (CSF, GM, WM) relative to white matter of a reference 3 T scanner.
CONTRAST_3T = (0.20, 0.55, 0.88)
CONTRAST_15T = (0.26, 0.62, 0.84)


def rng_for(seed: int, stream: int, *keys: int) -> np.random.Generator:
    """An independent generator for one purpose (and one subject, scanner or image)."""
    return np.random.default_rng(np.random.SeedSequence([seed, stream, *keys]))


def _r(x: float, nd: int = 4) -> float:
    return float(round(float(x), nd))


@dataclass(frozen=True)
class Scanner:
    scanner_id: str
    site: str
    manufacturer: str
    model: str
    field_strength: float
    serial: str
    station: str
    intensity_scale: float
    noise_sd: float  # Gaussian noise sd per channel, relative to white matter
    bias: tuple[float, ...]  # coefficients of the log bias field (9 quadratic terms)
    contrast: tuple[float, float, float]  # CSF, GM, WM

    def sidecar(self) -> dict[str, object]:
        out: dict[str, object] = {
            "Modality": "MR",
            "Manufacturer": self.manufacturer,
            "ManufacturersModelName": self.model,
            "MagneticFieldStrength": self.field_strength,
            "InstitutionName": self.site,
            "DeviceSerialNumber": self.serial,
            "StationName": self.station,
        }
        out.update(SEQUENCES[self.manufacturer])
        return out

    def to_dict(self) -> dict[str, object]:
        return {
            "scanner_id": self.scanner_id,
            "site": self.site,
            "Manufacturer": self.manufacturer,
            "ManufacturersModelName": self.model,
            "MagneticFieldStrength": self.field_strength,
            "DeviceSerialNumber": self.serial,
            "StationName": self.station,
            "intensity_scale": self.intensity_scale,
            "noise_sd": self.noise_sd,
            "bias_coefficients": list(self.bias),
            "contrast": dict(zip(("csf", "gm", "wm"), self.contrast, strict=True)),
        }


@dataclass(frozen=True)
class Session:
    session_id: str
    acq_order: int
    months_nominal: int
    years: float  # since baseline
    age: float
    scanner_id: str
    ad_atrophy: float  # peak grey-matter fraction lost in the medial-temporal regions
    pd_atrophy: float  # peak grey-matter fraction lost in the basal ganglia regions
    gm_age_factor: float  # global grey-matter factor from ageing (1 = none)
    gm_disease_factor: float  # global grey-matter factor from the disease (1 = none)
    ventricle_expansion: float
    shift_mm: tuple[float, float, float]  # small registration error of this session
    intensity_jitter: float  # multiplicative, around 1
    diagnosis: str = ""  # the session's diagnosis ("" when it is the subject's, constant)


@dataclass(frozen=True)
class Subject:
    index: int
    participant_id: str
    site: str
    sex: str
    diagnosis: str
    baseline_age: float
    head_scale: float
    affected: bool
    severity: float
    progression_per_year: float
    asymmetry: float  # left/right balance of the disease effect (positive: left worse)
    label_from_site: bool  # the diagnosis was set by the confounding rule
    sessions: tuple[Session, ...] = field(default_factory=tuple)
    conversion_month: float | None = None  # MCI -> AD (disease "mci"; None: no conversion)


@dataclass(frozen=True)
class Plan:
    config: SynthConfig
    sites: tuple[str, ...]
    site_preferred_class: dict[str, str]
    scanners: tuple[Scanner, ...]
    subjects: tuple[Subject, ...]

    def scanner(self, scanner_id: str) -> Scanner:
        return next(s for s in self.scanners if s.scanner_id == scanner_id)


def _scanners(cfg: SynthConfig, sites: tuple[str, ...]) -> tuple[Scanner, ...]:
    rng = rng_for(cfg.seed, STREAM_SCANNER)
    counts = [cfg.scanners_per_site] + [
        int(rng.integers(1, cfg.scanners_per_site + 1)) for _ in sites[1:]
    ]
    total = sum(counts)
    # Models without repetition while the catalogue lasts, so that (Manufacturer, model,
    # field strength) alone identifies a scanner in most cohorts.
    order = list(rng.permutation(len(CATALOGUE)))
    while len(order) < total:
        order += list(rng.permutation(len(CATALOGUE)))
    se = cfg.site_effect
    scanners = []
    k = 0
    for site, n in zip(sites, counts, strict=True):
        for j in range(n):
            manufacturer, model, tesla = CATALOGUE[order[k]]
            k += 1
            base = CONTRAST_3T if tesla == 3.0 else CONTRAST_15T
            contrast = tuple(CONTRAST_3T[i] + se * (base[i] - CONTRAST_3T[i]) for i in range(3))
            jitter = rng.normal(0.0, 0.02, size=2)
            contrast = (
                _r(contrast[0] + se * jitter[0]),
                _r(contrast[1] + se * jitter[1]),
                _r(contrast[2]),
            )
            noise_base = 0.025 + se * (0.012 if tesla == 1.5 else -0.005)
            scanners.append(
                Scanner(
                    scanner_id=f"{site}-scanner{j + 1}",
                    site=site,
                    manufacturer=manufacturer,
                    model=model,
                    field_strength=tesla,
                    serial=f"{int(rng.integers(10_000, 100_000))}",
                    station=f"{site.upper()}MR{j + 1}",
                    intensity_scale=_r(1000.0 * np.exp(se * rng.normal(0.0, 0.25)), 2),
                    noise_sd=_r(noise_base * np.exp(se * rng.normal(0.0, 0.2)) * cfg.noise, 5),
                    bias=tuple(_r(v) for v in se * rng.normal(0.0, 0.08, size=9)),
                    contrast=contrast,  # type: ignore[arg-type]
                )
            )
    return tuple(scanners)


def _truncated_normal(rng: np.random.Generator, mean: float, sd: float, lo: float, hi: float):
    if sd == 0:
        return min(max(mean, lo), hi)
    for _ in range(1000):
        x = rng.normal(mean, sd)
        if lo <= x <= hi:
            return x
    return min(max(mean, lo), hi)


def build_plan(cfg: SynthConfig) -> Plan:
    """Draw the whole design of the cohort from ``cfg`` (no image yet)."""
    rng = rng_for(cfg.seed, STREAM_COHORT)
    width = max(2, len(str(cfg.sites)))
    sites = tuple(f"site{i + 1:0{width}d}" for i in range(cfg.sites))
    classes = cfg.classes
    preferred = {site: classes[i % len(classes)] for i, site in enumerate(sites)}
    props = np.asarray(cfg.class_proportions or [1.0 / len(classes)] * len(classes))
    scanners = _scanners(cfg, sites)
    by_site: dict[str, list[Scanner]] = {s: [] for s in sites}
    for sc in scanners:
        by_site[sc.site].append(sc)

    # Sites of unequal size, each with at least one participant.
    weights = rng.dirichlet(np.full(cfg.sites, 5.0))
    site_idx = np.concatenate(
        [np.arange(cfg.sites), rng.choice(cfg.sites, size=cfg.subjects - cfg.sites, p=weights)]
    )
    site_idx = site_idx[rng.permutation(cfg.subjects)]

    # Diagnosis: the site's preferred class with probability `confound`; otherwise from a
    # shuffled pool with the class proportions (largest remainders), so that small cohorts
    # still hold every class.
    from_site = rng.random(cfg.subjects) < cfg.confound
    n_free = int((~from_site).sum())
    counts = np.floor(props * n_free).astype(int)
    remainder = props * n_free - counts
    for k in np.argsort(-remainder, kind="stable")[: n_free - counts.sum()]:
        counts[k] += 1
    pool = iter(rng.permutation(np.repeat(np.arange(len(classes)), counts)))

    width = max(3, len(str(cfg.subjects)))
    months_step = cfg.session_interval_months
    subjects = []
    for i in range(cfg.subjects):
        site = sites[int(site_idx[i])]
        label_from_site = bool(from_site[i])
        diagnosis = preferred[site] if label_from_site else classes[int(next(pool))]
        sex = "M" if rng.random() < cfg.male_fraction else "F"
        gap = cfg.age_gap if diagnosis != "CN" else 0.0
        age0 = _truncated_normal(rng, cfg.age_mean + gap, cfg.age_sd, cfg.age_min, cfg.age_max)
        sex_sign = 1.0 if sex == "M" else -1.0
        head_scale = 1.0 + cfg.sex_effect * 0.035 * sex_sign + rng.normal(0.0, 0.025)
        affected = diagnosis != "CN"
        effect = {
            "AD": (cfg.ad_effect, cfg.ad_progression),
            "PD": (cfg.pd_effect, cfg.pd_progression),
        }
        severity = progression = 0.0
        conversion = None
        if diagnosis == "MCI":
            # Prodromal: a fraction of the AD effect, full progression for converters only.
            converts = rng.random() < cfg.mci_conversion
            follow_up = (cfg.sessions - 1) * months_step + 12
            conversion = _r(rng.uniform(1.0, follow_up), 1) if converts else None
            severity = 0.4 * cfg.ad_effect * rng.gamma(6.0, 1.0 / 6.0)
            progression = (
                cfg.ad_progression if converts else 0.2 * cfg.ad_progression
            ) * rng.gamma(6.0, 1.0 / 6.0)
        elif affected:
            mean_sev, mean_prog = effect[diagnosis]
            severity = mean_sev * rng.gamma(6.0, 1.0 / 6.0)
            progression = mean_prog * rng.gamma(6.0, 1.0 / 6.0)
        asymmetry = float(np.clip(rng.normal(0.0, 0.15), -0.5, 0.5)) if affected else 0.0
        scanner_choices = by_site[site]
        scanner = scanner_choices[int(rng.integers(len(scanner_choices)))]
        sessions = []
        years = 0.0
        for k in range(cfg.sessions):
            if k > 0:
                if rng.random() < cfg.dropout:
                    break
                years = k * months_step / 12.0 + rng.normal(0.0, 0.5 / 12.0)
                if len(scanner_choices) > 1 and rng.random() < cfg.scanner_switch:
                    others = [s for s in scanner_choices if s is not scanner]
                    scanner = others[int(rng.integers(len(others)))]
            years = max(years, 0.0)
            age = age0 + years
            amount = min(0.9, severity + progression * years) if affected else 0.0
            decades = (age - 50.0) / 10.0
            ad_like = diagnosis in ("AD", "MCI")
            session_dx = ""
            if diagnosis == "MCI":
                converted = conversion is not None and k * months_step >= conversion
                session_dx = "AD" if converted else "MCI"
            sessions.append(
                Session(
                    session_id=f"M{k * months_step:03d}",
                    acq_order=k + 1,
                    months_nominal=k * months_step,
                    years=_r(years),
                    age=_r(age, 1),
                    scanner_id=scanner.scanner_id,
                    ad_atrophy=_r(amount if ad_like else 0.0),
                    pd_atrophy=_r(amount if diagnosis == "PD" else 0.0),
                    gm_age_factor=_r(1.0 - cfg.age_effect * 0.02 * decades),
                    gm_disease_factor=_r(1.0 - (AD_GLOBAL_GM_LOSS * amount if ad_like else 0.0)),
                    ventricle_expansion=_r(
                        max(0.0, cfg.age_effect * 0.05 * decades)
                        + (AD_VENTRICLE_EXPANSION * amount if ad_like else 0.0)
                    ),
                    shift_mm=tuple(_r(v, 3) for v in rng.normal(0.0, 0.5, size=3)),  # type: ignore[arg-type]
                    intensity_jitter=_r(np.exp(cfg.site_effect * rng.normal(0.0, 0.02))),
                    diagnosis=session_dx,
                )
            )
        subjects.append(
            Subject(
                index=i,
                participant_id=f"sub-{i + 1:0{width}d}",
                site=site,
                sex=sex,
                diagnosis=diagnosis,
                baseline_age=_r(age0, 1),
                head_scale=_r(head_scale),
                affected=affected,
                severity=_r(severity),
                progression_per_year=_r(progression),
                asymmetry=_r(asymmetry),
                label_from_site=label_from_site,
                sessions=tuple(sessions),
                conversion_month=conversion,
            )
        )
    return Plan(
        config=cfg,
        sites=sites,
        site_preferred_class=preferred,
        scanners=scanners,
        subjects=tuple(subjects),
    )
