"""Pythia event history -> NanoAOD ``GenPart`` (status, statusFlags, pruning, mothers).

The flags are the ``GenPart_statusFlags`` bits of NanoAOD
(:data:`flashsim_coffea.nanoaod.status_flags.BITS`).

``GenPart_status`` follows CMS: 1 final state, 2 decayed by the generator's decay
machinery (hadrons, taus, ...), otherwise Pythia's |status| (21-29 hard process,
44/51/52/62 shower copies, 71-79 hadronisation inputs, ...).

Pruning follows the NanoAOD ``prunedGenParticles`` selection (PhysicsTools/NanoAOD
``genparticles_cff.py``): taus with their decay chains, photons above 10 GeV or
prompt, all charged leptons and neutrinos, B and C hadrons, the hard process and
its copies, partons entering hadronisation above 15 GeV, W/Z/H, K0S in the tracker;
the rules marked ``+keep`` there also keep the first mother. ``genPartIdxMother``
points to the nearest kept ancestor.

Everything runs over the flat arrays of a whole block of events in one numba pass
(mothers always precede daughters in a Pythia record).

Example:
    Of the 3062 history entries of a Drell-Yan event, 40 are kept in ``GenPart``; the
    eighth kept one is the last copy of the Z (Pythia status 62), its flags decoded
    with :data:`~flashsim_coffea.nanoaod.status_flags.BITS`:

    >>> import numpy as np
    >>> from flashsim_coffea.nanoaod.status_flags import BITS
    >>> from flashsim_coffea.reference.pythia import generate_block
    >>> rec = generate_block("dy", n=2, seed=1)
    >>> h = build(rec)
    >>> h["counts"], h["gen_counts"]
    (array([3062,  799]), array([40, 11]))
    >>> z = np.flatnonzero(h["keep"])[7]
    >>> int(rec["id"][z]), int(h["status"][z]), int(h["genPartIdxMother"][z])
    (23, 62, 6)
    >>> [name for name, bit in BITS.items() if int(h["statusFlags"][z]) >> bit & 1]
    ['isPrompt', 'fromHardProcess', 'fromHardProcessBeforeFSR', 'isLastCopy', 'isLastCopyBeforeFSR']

References:
    CMSSW ``DataFormats/HepMCCandidate/interface/GenStatusFlags.h`` and
    ``PhysicsTools/HepMCCandAlgos/interface/MCTruthHelper.h`` (the flag definitions);
    ``PhysicsTools/NanoAOD/python/genparticles_cff.py`` (the pruning).
"""

from __future__ import annotations

import numba
import numpy as np

from flashsim_coffea.nanoaod.status_flags import BITS

# statusFlags masks (global ints: numba freezes them into the kernel)
_IS_PROMPT = 1 << BITS["isPrompt"]
_IS_DECAYED_LEPTON_HADRON = 1 << BITS["isDecayedLeptonHadron"]
_IS_TAU_DECAY_PRODUCT = 1 << BITS["isTauDecayProduct"]
_IS_PROMPT_TAU_DECAY_PRODUCT = 1 << BITS["isPromptTauDecayProduct"]
_IS_DIRECT_TAU_DECAY_PRODUCT = 1 << BITS["isDirectTauDecayProduct"]
_IS_DIRECT_PROMPT_TAU_DECAY_PRODUCT = 1 << BITS["isDirectPromptTauDecayProduct"]
_IS_DIRECT_HADRON_DECAY_PRODUCT = 1 << BITS["isDirectHadronDecayProduct"]
_IS_HARD_PROCESS = 1 << BITS["isHardProcess"]
_FROM_HARD_PROCESS = 1 << BITS["fromHardProcess"]
_IS_HARD_PROCESS_TAU_DECAY_PRODUCT = 1 << BITS["isHardProcessTauDecayProduct"]
_IS_DIRECT_HARD_PROCESS_TAU_DECAY_PRODUCT = 1 << BITS["isDirectHardProcessTauDecayProduct"]
_FROM_HARD_PROCESS_BEFORE_FSR = 1 << BITS["fromHardProcessBeforeFSR"]
_IS_FIRST_COPY = 1 << BITS["isFirstCopy"]
_IS_LAST_COPY = 1 << BITS["isLastCopy"]
_IS_LAST_COPY_BEFORE_FSR = 1 << BITS["isLastCopyBeforeFSR"]


def is_hadron(absid: np.ndarray) -> np.ndarray:
    """Hadron PDG ids (mesons and baryons; diquarks and BSM ids excluded).

    Arguments:
        absid: absolute PDG ids.

    Returns:
        A boolean array, True for hadrons.

    Example:
        >>> is_hadron(np.array([211, 511, 2212, 22, 5, 2101]))  # pi+, B0, p, photon, b, ud_0 diquark
        array([ True,  True,  True, False, False, False])
    """
    a = np.asarray(absid)
    diquark = (a >= 1000) & (a < 10000) & ((a // 10) % 10 == 0)
    return (a > 100) & (a < 1_000_000) & ~diquark


def heavy_flavour(absid: np.ndarray) -> np.ndarray:
    """5 for B hadrons, 4 for C hadrons, 0 otherwise (from the PDG id's quark content).

    Arguments:
        absid: absolute PDG ids.

    Returns:
        The heavy flavour per id (int8).

    Example:
        >>> heavy_flavour(np.array([511, 421, 5122, 4122, 211, 5]))  # B0, D0, Lambda_b, Lambda_c, pi+, b quark
        array([5, 4, 5, 4, 0, 0], dtype=int8)
    """
    a = np.asarray(absid) % 10000
    meson = (a // 100) % 10
    baryon = (a // 1000) % 10
    q = np.where(baryon > 0, baryon, meson)
    hadron = is_hadron(np.asarray(absid))
    return np.where(hadron & (q == 5), 5, np.where(hadron & (q == 4), 4, 0)).astype(np.int8)


@numba.njit(cache=True)
def _flags(starts, counts, pid, pstatus, m1, d_from_decay, hadron, pt, eta):
    n = pid.shape[0]
    absid = np.abs(pid)
    flags = np.zeros(n, np.uint16)
    status = np.zeros(n, np.int32)
    keep = np.zeros(n, np.bool_)
    mother = np.full(n, -1, np.int64)  # global index of mother1
    copy = np.zeros(n, np.bool_)
    has_copy_dau = np.zeros(n, np.bool_)
    emits = np.zeros(n, np.bool_)
    for e in range(starts.shape[0]):
        s = starts[e]
        for j in range(s, s + counts[e]):
            if m1[j] >= 0:
                m = s + m1[j]
                mother[j] = m
                if pid[m] == pid[j]:
                    copy[j] = True
                    has_copy_dau[m] = True
                elif abs(pstatus[j]) == 51:
                    emits[m] = True
    prompt = np.ones(n, np.bool_)
    tau_prod = np.zeros(n, np.bool_)
    ptau_prod = np.zeros(n, np.bool_)
    hptau_prod = np.zeros(n, np.bool_)
    from_hp = np.zeros(n, np.bool_)
    emitted_before = np.zeros(n, np.bool_)
    tau_anc = np.full(n, -1, np.int64)
    for j in range(n):
        a = absid[j]
        st = abs(pstatus[j])
        decayed = d_from_decay[j]
        if pstatus[j] > 0:
            status[j] = 1
        elif decayed:
            status[j] = 2
        else:
            status[j] = st
        hp = st >= 21 and st <= 29
        m = mother[j]
        direct_tau = False
        direct_ptau = False
        direct_hptau = False
        direct_had = False
        if m >= 0:
            md = d_from_decay[m]
            if md and (hadron[m] or absid[m] == 13 or absid[m] == 15):
                prompt[j] = False
            if not prompt[m]:
                prompt[j] = False
            tau_anc[j] = m if (md and absid[m] == 15) else tau_anc[m]
            if md and absid[m] == 15:
                direct_tau = True
                direct_ptau = prompt[m]
                direct_hptau = from_hp[m]
            tau_prod[j] = direct_tau or tau_prod[m]
            ptau_prod[j] = direct_ptau or ptau_prod[m]
            hptau_prod[j] = direct_hptau or hptau_prod[m]
            direct_had = md and hadron[m]
            from_hp[j] = hp or (copy[j] and from_hp[m])
            emitted_before[j] = copy[j] and (emitted_before[m] or emits[m])
        else:
            from_hp[j] = hp
        last = not has_copy_dau[j]
        last_before_fsr = (not emitted_before[j]) and (emits[j] or last)
        f = 0
        if prompt[j]:
            f |= _IS_PROMPT
        if decayed and (hadron[j] or a == 11 or a == 13 or a == 15):
            f |= _IS_DECAYED_LEPTON_HADRON
        if tau_prod[j]:
            f |= _IS_TAU_DECAY_PRODUCT
        if ptau_prod[j]:
            f |= _IS_PROMPT_TAU_DECAY_PRODUCT
        if direct_tau:
            f |= _IS_DIRECT_TAU_DECAY_PRODUCT
        if direct_ptau:
            f |= _IS_DIRECT_PROMPT_TAU_DECAY_PRODUCT
        if direct_had:
            f |= _IS_DIRECT_HADRON_DECAY_PRODUCT
        if hp:
            f |= _IS_HARD_PROCESS
        if from_hp[j]:
            f |= _FROM_HARD_PROCESS
        if hptau_prod[j]:
            f |= _IS_HARD_PROCESS_TAU_DECAY_PRODUCT
        if direct_hptau:
            f |= _IS_DIRECT_HARD_PROCESS_TAU_DECAY_PRODUCT
        if from_hp[j] and last_before_fsr:
            f |= _FROM_HARD_PROCESS_BEFORE_FSR
        if not copy[j]:
            f |= _IS_FIRST_COPY
        if last:
            f |= _IS_LAST_COPY
        if last_before_fsr:
            f |= _IS_LAST_COPY_BEFORE_FSR
        flags[j] = f
        # ---- pruning (NanoAOD prunedGenParticles) ----
        k = False
        keep_mother = False
        if a == 15 and (pt[j] > 15 or (prompt[j] and decayed)):
            k = True
        if pid[j] == 22 and status[j] == 1 and (pt[j] > 10 or prompt[j]):
            k = True
            keep_mother = True
        if a == 11 or a == 13 or a == 15:
            k = True
            keep_mother = True
        if (a > 400 and a < 600) or (a > 4000 and a < 6000):
            k = True
        if a == 12 or a == 14 or a == 16:
            k = True
        if hp or (from_hp[j] and (status[j] == 1 or status[j] == 2 or last)):
            k = True
        if st >= 71 and st <= 79 and pt[j] > 15:
            k = True
        if a == 23 or a == 24 or a == 25 or a == 37:
            k = True
        if a == 310 and abs(eta[j]) < 2.5 and pt[j] > 1:
            k = True
        if ptau_prod[j] or (tau_anc[j] >= 0 and keep[tau_anc[j]]):
            k = True
        if k:
            keep[j] = True
            if keep_mother and m >= 0:
                keep[m] = True
    # nearest kept ancestor
    kept_anc = np.full(n, -1, np.int64)
    for j in range(n):
        m = mother[j]
        if m >= 0:
            kept_anc[j] = m if keep[m] else kept_anc[m]
    return status, flags, keep, kept_anc, tau_anc


def kinematics(px, py, pz):
    """(pt, eta, phi) from Cartesian momenta; eta = +-1e4 along the beam.

    Example:
        >>> pt, eta, phi = kinematics(np.array([3.0, 0.0]), np.array([4.0, 0.0]), np.array([0.0, 10.0]))
        >>> pt, eta
        (array([5., 0.]), array([    0., 10000.]))
    """
    pt = np.hypot(px, py)
    eta = np.where(pt > 0, np.arcsinh(pz / np.where(pt > 0, pt, 1.0)), np.sign(pz) * 1e4)
    return pt, eta, np.arctan2(py, px)


def build(rec: dict) -> dict:
    """Flags, CMS status and pruning for a block made by :func:`.pythia.generate_block`.

    Arguments:
        rec: the Pythia block (flat arrays and ``counts``).

    Returns:
        A dict of flat arrays over all history entries: ``status``, ``statusFlags``,
        ``keep``, ``genPartIdx`` (index within the event's pruned GenPart or -1),
        ``genPartIdxMother`` (for kept entries), ``pt``, ``eta``, ``phi``, ``hadron``,
        ``decayed``, ``event_index``, ``global_mother`` and ``tau_ancestor`` (global
        index of the mother / of the nearest decayed-tau ancestor, -1 if none); and
        ``counts`` / ``gen_counts`` (entries / kept entries per event).
    """
    counts = np.asarray(rec["counts"], dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    pid = rec["id"].astype(np.int64)
    pstatus = rec["status"].astype(np.int64)
    n = pid.shape[0]
    # a particle "decayed" if any particle names it as mother1 with a decay status 91-99
    d_from_decay = np.zeros(n, np.bool_)
    evt = np.repeat(np.arange(len(counts)), counts)
    m1 = rec["mother1"].astype(np.int64)
    has_m = m1 >= 0
    gm = np.where(has_m, m1 + starts[evt], -1)
    dec = has_m & (np.abs(pstatus) >= 91) & (np.abs(pstatus) <= 99)
    d_from_decay[gm[dec]] = True
    pt, eta, phi = kinematics(rec["px"], rec["py"], rec["pz"])
    hadron = is_hadron(np.abs(pid))
    status, flags, keep, kept_anc, tau_anc = _flags(starts, counts, pid, pstatus, m1, d_from_decay, hadron, pt, eta)
    # local pruned index of each kept entry
    keep_counts = np.bincount(evt[keep], minlength=len(counts)) if n else np.zeros(len(counts), np.int64)
    kept_cum = np.cumsum(keep) - 1  # global running index among kept
    kept_start = np.concatenate([[0], np.cumsum(keep_counts)[:-1]])
    gen_idx = np.where(keep, kept_cum - kept_start[evt], -1)
    mother_idx = np.where(kept_anc >= 0, gen_idx[np.maximum(kept_anc, 0)], -1)
    return {
        "counts": counts,
        "gen_counts": keep_counts.astype(np.int64),
        "event_index": evt,
        "global_mother": gm,
        "status": status,
        "statusFlags": flags,
        "keep": keep,
        "genPartIdx": gen_idx.astype(np.int64),
        "genPartIdxMother": mother_idx.astype(np.int64),
        "pt": pt,
        "eta": eta,
        "phi": phi,
        "hadron": hadron,
        "decayed": d_from_decay,
        "tau_ancestor": tau_anc,
    }
