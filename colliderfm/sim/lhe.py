"""The project's leading-order hard processes, written as Les Houches events, and LHE file checks.

Hard processes Pythia lacks (tW, tZq, ttW, ttZ, ttt, tttt, the t-channel DM mediator) are generated
here with *undecayed* resonances (tops, W, Z, the mediator) and a colour flow, then decayed, showered
and hadronised by Pythia like any LHE file (``Beams:frameType = 4``).

The approximation (stated per process in docs/PHYSICS.md): parton luminosities are exact at leading
order (Pythia's default PDF at Q = half the final-state mass sum), the partonic cross section is a
constant matrix element times the n-body phase-space growth near threshold,
sigma_hat(s) ~ (1 - M / sqrt(s))^((3n - 5) / 2) / s (M: the final-state mass sum), and the final state
is spread flat in n-body phase space (RAMBO, Kleiss, Stirling, Ellis, CPC 40 (1986) 359, massless
momenta rescaled to the masses). The normalisation is the cited sigma of the registry, not this.
Spin correlations between the tops are absent (Pythia decays them isotropically).
"""

from __future__ import annotations

import dataclasses
import gzip
import shutil
from pathlib import Path

import numpy as np

from colliderfm.errors import EventFileError

E_BEAM = 6500.0  # GeV, 13 TeV proton beams
PROTON = 2212


@dataclasses.dataclass(frozen=True)
class Channel:
    """Incoming partons (a, b) with their (colour, anticolour) tags, outgoing (pid, col, acol), weight share.
    Each channel runs with its charge conjugate too (pids negated, colour and anticolour swapped)."""

    incoming: tuple[tuple[int, int, int], tuple[int, int, int]]
    outgoing: tuple[tuple[int, int, int], ...]
    share: float = 1.0


def _conjugate(ch: Channel) -> Channel:
    flip = lambda parts: tuple((-pid if _has_anti(pid) else pid, acol, col) for pid, col, acol in parts)  # noqa: E731
    return Channel(flip(ch.incoming), flip(ch.outgoing), ch.share)


def _has_anti(pid: int) -> bool:
    return pid not in (21, 22, 23, 25)  # self-conjugate: gluon, photon, Z, H


# Colour tags follow the LHE convention: a colour line joins an incoming colour to an outgoing colour, or
# an incoming colour to an incoming anticolour, or an outgoing colour to an outgoing anticolour.
G, U, D, B, TOP, W, Z, MED = 21, 2, 1, 5, 6, 24, 23, 54
HARD_PROCESSES: dict[str, tuple[Channel, ...]] = {
    # g b -> t W- (and the conjugate g bbar -> tbar W+)
    "tw": (Channel(((G, 501, 502), (B, 502, 0)), ((TOP, 501, 0), (-W, 0, 0))),),
    # u b -> d t Z (t-channel W exchange with a Z radiated)
    "tzq": (Channel(((U, 501, 0), (B, 502, 0)), ((D, 501, 0), (TOP, 502, 0), (Z, 0, 0))),),
    "tchan_dm": (Channel(((U, 501, 0), (B, 502, 0)), ((D, 501, 0), (TOP, 502, 0), (MED, 0, 0))),),
    # u dbar -> t tbar W+ (q qbar annihilation; ttW has no gg channel at LO)
    "ttw": (Channel(((U, 501, 0), (-D, 0, 502)), ((TOP, 501, 0), (-TOP, 0, 502), (W, 0, 0))),),
    # g g -> t tbar Z (85 %) and u ubar -> t tbar Z (15 %): the LO channel shares at 13 TeV
    "ttz": (
        Channel(((G, 501, 502), (G, 503, 501)), ((TOP, 503, 0), (-TOP, 0, 502), (Z, 0, 0)), 0.85),
        Channel(((U, 501, 0), (-U, 0, 502)), ((TOP, 501, 0), (-TOP, 0, 502), (Z, 0, 0)), 0.15),
    ),
    # d g -> t t tbar W- (about 60 % of ttt) and u b -> t t tbar d (ttt + jet, about 40 %),
    # shares of Barger, Keung, Yencho, PLB 687 (2010) 70
    "ttt": (
        Channel(((D, 501, 0), (G, 502, 503)), ((TOP, 501, 0), (TOP, 502, 0), (-TOP, 0, 503), (-W, 0, 0)), 0.6),
        Channel(((U, 501, 0), (B, 502, 0)), ((TOP, 501, 0), (TOP, 503, 0), (-TOP, 0, 503), (D, 502, 0)), 0.4),
    ),
    # g g -> t t tbar tbar
    "tttt": (Channel(((G, 501, 502), (G, 503, 501)), ((TOP, 503, 0), (TOP, 504, 0), (-TOP, 0, 502), (-TOP, 0, 504))),),
}

N_TAU, N_Y = 160, 32  # grid of the (tau, y) sampling


class PartonLuminosity:
    """x f(x, Q^2) of the proton from Pythia's default PDF, of an initialised Pythia (one without a process
    level will do: ``pythia.make(["ProcessLevel:all = off"], ...)``)."""

    def __init__(self, pythia):
        self._pythia = pythia  # keeps the PDF's owner alive
        self._pdf = pythia.getPDFPtr(PROTON)

    def xf(self, pid: int, x: np.ndarray, q2: float) -> np.ndarray:
        return np.array([self._pdf.xf(pid, float(v), q2) for v in np.ravel(x)]).reshape(np.shape(x))


def _grid(ch: Channel, masses: np.ndarray, pdf: PartonLuminosity, s: float):
    """Cells (log tau, y fraction) with their probabilities for this channel, both beam orderings."""
    m_sum = masses.sum()
    n = len(masses)
    log_tau = np.linspace(np.log((m_sum * 1.0005) ** 2 / s), 0.0, N_TAU + 1)[:-1]
    log_tau = log_tau + 0.5 * (log_tau[1] - log_tau[0])  # cell centres
    frac = (np.arange(N_Y) + 0.5) / N_Y
    tau = np.exp(log_tau)[:, None]
    y_max = -0.5 * np.log(tau)
    y = (2 * frac[None, :] - 1) * y_max
    x1, x2 = np.sqrt(tau) * np.exp(y), np.sqrt(tau) * np.exp(-y)
    q2 = (m_sum / 2) ** 2
    (a, _, _), (b, _, _) = ch.incoming
    lum = np.stack([pdf.xf(a, x1, q2) * pdf.xf(b, x2, q2), pdf.xf(b, x1, q2) * pdf.xf(a, x2, q2)])
    shat = tau * s
    sigma_hat = (1 - m_sum / np.sqrt(shat)) ** ((3 * n - 5) / 2) / shat
    # f1 f2 dx1 dx2 = xf1 xf2 / tau * dtau dy, dtau = tau dlog(tau), dy ~ 2 y_max (cells of equal y fraction)
    weight = lum * sigma_hat * 2 * y_max
    return log_tau, frac, weight / weight.sum()


def _rambo(rng, n_events: int, sqrt_s: np.ndarray, masses: np.ndarray) -> np.ndarray:
    """(n_events, n, 4) momenta (E, px, py, pz) flat in n-body phase space in the partonic rest frame."""
    n = len(masses)
    c = rng.uniform(-1, 1, (n_events, n))
    phi = rng.uniform(0, 2 * np.pi, (n_events, n))
    q0 = -np.log(rng.uniform(size=(n_events, n)) * rng.uniform(size=(n_events, n)))
    s_t = np.sqrt(1 - c**2)
    q = np.stack([q0, q0 * s_t * np.cos(phi), q0 * s_t * np.sin(phi), q0 * c], axis=-1)
    tot = q.sum(axis=1)
    m_q = np.sqrt(tot[:, 0] ** 2 - (tot[:, 1:] ** 2).sum(-1))
    b = -tot[:, 1:] / m_q[:, None]
    x = sqrt_s / m_q
    gamma = tot[:, 0] / m_q
    a = 1 / (1 + gamma)
    bq = (b[:, None, :] * q[..., 1:]).sum(-1)
    p_vec = x[:, None, None] * (q[..., 1:] + b[:, None, :] * (q[..., :1] + a[:, None, None] * bq[..., None]))
    p_abs = np.sqrt((p_vec**2).sum(-1))
    # massive: scale all momenta by xi so that the energies add up to sqrt(s) (Newton's method)
    xi = np.ones(n_events)
    for _ in range(30):
        e = np.sqrt(masses**2 + (xi[:, None] * p_abs) ** 2)
        f = e.sum(-1) - sqrt_s
        xi = xi - f / ((xi[:, None] * p_abs**2 / e).sum(-1))
    p_vec = xi[:, None, None] * p_vec
    e = np.sqrt(masses**2 + (p_vec**2).sum(-1))
    return np.concatenate([e[..., None], p_vec], axis=-1)


def _boost_z(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    ch, sh = np.cosh(y)[:, None], np.sinh(y)[:, None]
    e, pz = p[..., 0], p[..., 3]
    return np.stack([ch * e + sh * pz, p[..., 1], p[..., 2], sh * e + ch * pz], axis=-1)


def hard_events(
    name: str, n_events: int, rng: np.random.Generator, masses: dict[int, float], pdf: PartonLuminosity
) -> list[tuple[Channel, np.ndarray, np.ndarray]]:
    """Events of a hard process: per channel (with conjugates), (channel, incoming (k, 2, 4),
    outgoing (k, n, 4)) momenta in the lab."""
    s = (2 * E_BEAM) ** 2
    channels = [c for ch in HARD_PROCESSES[name] for c in (ch, _conjugate(ch))]
    counts = rng.multinomial(n_events, np.array([c.share for c in channels]) / sum(c.share for c in channels))
    out = []
    for ch, k in zip(channels, counts):
        if k == 0:
            continue
        m = np.array([masses.get(abs(pid), 0.0) for pid, _, _ in ch.outgoing])
        log_tau, frac, prob = _grid(ch, m, pdf, s)
        cell = rng.choice(prob.size, size=k, p=prob.ravel())
        order, i_tau, i_y = np.unravel_index(cell, prob.shape)
        step = log_tau[1] - log_tau[0]
        tau = np.exp(log_tau[i_tau] + step * rng.uniform(-0.5, 0.5, k))
        y = (2 * (frac[i_y] + rng.uniform(-0.5, 0.5, k) / N_Y) - 1) * (-0.5 * np.log(tau))
        sqrt_s = np.sqrt(tau * s)
        final = _boost_z(_rambo(rng, k, sqrt_s, m), y)
        x1, x2 = np.sqrt(tau) * np.exp(y), np.sqrt(tau) * np.exp(-y)
        e1, e2 = x1 * E_BEAM, x2 * E_BEAM
        zero = np.zeros(k)
        incoming = np.stack([np.stack([e1, zero, zero, e1], -1), np.stack([e2, zero, zero, -e2], -1)], axis=1)
        swapped = order == 1  # parton b from beam 1: the incoming momenta swap
        flipped = Channel(ch.incoming[::-1], ch.outgoing, ch.share)
        for c, sel in ((ch, ~swapped), (flipped, swapped)):
            if sel.any():
                out.append((c, incoming[sel], final[sel]))
    return out


def write_lhe(
    path: str | Path,
    name: str,
    n_events: int,
    rng: np.random.Generator,
    masses: dict[int, float],
    sigma_pb: float,
    pdf: PartonLuminosity,
) -> Path:
    """Write ``n_events`` of hard process ``name`` as a Les Houches event file (events in random order)."""
    blocks = []
    for ch, incoming, final in hard_events(name, n_events, rng, masses, pdf):
        parts = [(pid, -1, col, acol, m) for pid, col, acol in ch.incoming for m in [0.0]]
        parts += [(pid, 1, col, acol, masses.get(abs(pid), 0.0)) for pid, col, acol in ch.outgoing]
        mom = np.concatenate([incoming, final], axis=1)
        scale = float(sum(p[4] for p in parts) / 2)
        head = f"{len(parts)} 1 {sigma_pb:.6e} {scale:.4e} 7.546771e-03 1.180000e-01\n"
        for event in mom:
            lines = [head]
            for (pid, status, col, acol, m), p in zip(parts, event):
                mothers = "0 0" if status < 0 else "1 2"
                lines.append(
                    f"{pid} {status} {mothers} {col} {acol} {p[1]:.9e} {p[2]:.9e} {p[3]:.9e} {p[0]:.9e} {m:.6e} 0 9\n"
                )
            blocks.append("<event>\n" + "".join(lines) + "</event>\n")
    order = rng.permutation(len(blocks))
    init = f"<init>\n{PROTON} {PROTON} {E_BEAM:.1f} {E_BEAM:.1f} 0 0 0 0 3 1\n{sigma_pb:.6e} 0.0 1.0 1\n</init>\n"
    with open(path, "w") as f:
        f.write('<LesHouchesEvents version="3.0">\n<header>colliderfm.sim.lhe ' + name + "</header>\n" + init)
        f.writelines(blocks[i] for i in order)
        f.write("</LesHouchesEvents>\n")
    return Path(path)


def plain_copy(path: str | Path, workdir: Path) -> Path:
    """A user's LHE file as Pythia reads it: gzipped ones decompressed into ``workdir``."""
    path = Path(path)
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    if not gzipped:
        return path
    out = workdir / (path.name.removesuffix(".gz") or "events.lhe")
    try:
        with gzip.open(path, "rb") as src, open(out, "wb") as dst:
            shutil.copyfileobj(src, dst)
    except (OSError, EOFError) as err:
        raise EventFileError(f"{path}: not a readable gzipped LHE file ({err})") from None
    return out


def count_events(path: Path, shown: str | Path) -> int:
    """Number of events of an LHE file; EventFileError (naming ``shown``) when it isn't one."""
    head = b""
    n = 0
    with open(path, "rb") as f:
        for i, chunk in enumerate(iter(lambda: f.read(1 << 20), b"")):
            if i == 0:
                head = chunk[:4096]
            n += chunk.count(b"<event")  # '<event>' and '<event attr=...>', not '</event>'
    if b"<LesHouchesEvents" not in head:
        raise EventFileError(f"{shown}: not a Les Houches event file (no <LesHouchesEvents> tag at the start)")
    if b"<init" not in head and b"<init>" not in open(path, "rb").read(1 << 22):
        raise EventFileError(f"{shown}: Les Houches event file without an <init> block")
    if n == 0:
        raise EventFileError(f"{shown}: Les Houches event file without events")
    return n
