"""The bits of NanoAOD's ``GenPart_statusFlags``.

As documented for the NanoAOD ``GenPart`` table (PhysicsTools/NanoAOD ``genparticles_cff.py``:
"gen status flags stored bitwise, bits are: 0 : isPrompt, 1 : isDecayedLeptonHadron, ...") and
defined in CMSSW ``DataFormats/HepMCCandidate/interface/GenStatusFlags.h``:

====  ==================================  ====  ==================================
bit   meaning                             bit   meaning
====  ==================================  ====  ==================================
0     isPrompt                            8     fromHardProcess
1     isDecayedLeptonHadron               9     isHardProcessTauDecayProduct
2     isTauDecayProduct                   10    isDirectHardProcessTauDecayProduct
3     isPromptTauDecayProduct             11    fromHardProcessBeforeFSR
4     isDirectTauDecayProduct             12    isFirstCopy
5     isDirectPromptTauDecayProduct       13    isLastCopy
6     isDirectHadronDecayProduct          14    isLastCopyBeforeFSR
7     isHardProcess
====  ==================================  ====  ==================================

Example:
    Test one flag, build a mask from flag names, or decode a value (8449: the electron of
    a Z -> ee decay in GenPart, after its final-state radiation):

    >>> (0b10000001 >> BITS["isHardProcess"]) & 1
    1
    >>> mask = (1 << BITS["isPrompt"]) | (1 << BITS["isLastCopy"])
    >>> mask, 8449 & mask == mask
    (8193, True)
    >>> [name for name, bit in BITS.items() if 8449 >> bit & 1]
    ['isPrompt', 'fromHardProcess', 'isLastCopy']
"""

from __future__ import annotations

#: flag name -> bit number in ``GenPart_statusFlags``.
BITS: dict[str, int] = {
    "isPrompt": 0,
    "isDecayedLeptonHadron": 1,
    "isTauDecayProduct": 2,
    "isPromptTauDecayProduct": 3,
    "isDirectTauDecayProduct": 4,
    "isDirectPromptTauDecayProduct": 5,
    "isDirectHadronDecayProduct": 6,
    "isHardProcess": 7,
    "fromHardProcess": 8,
    "isHardProcessTauDecayProduct": 9,
    "isDirectHardProcessTauDecayProduct": 10,
    "fromHardProcessBeforeFSR": 11,
    "isFirstCopy": 12,
    "isLastCopy": 13,
    "isLastCopyBeforeFSR": 14,
}
