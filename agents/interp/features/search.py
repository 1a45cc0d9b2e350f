"""What a retargeting measurement picks on the search mazes (`STUDY_SEARCH_OFFSET`).

Three searches in turn, each picking by success on the search targets (`Materials.search`):

1. `Searches.values`: each feature set's and channel set's multiple (of its largest activation),
   each splice's scale, the layer's ceiling's place and scale, cheese present and removed;
2. `Searches.erasures`: with the cheese present, how many of the cheese's features an erasure
   zeroes or replaces, or (a map kind) the radius around the cheese it replaces;
3. `Searches.upstream_radii` (with ``erase_hook``): the radius of an erasure at an earlier
   layer under each maze map's write.

`Searches` keeps what they picked (``picks``, as the measurement's JSON reports it) and builds
the rows that `agents.interp.features.retarget` plays on the retargeting mazes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.interp.features.ceiling import CONDITIONS, best_of, ceiling_rows, pick_ceiling
from agents.interp.features.dictionary import Sae
from agents.interp.features.materials import KINDS, NEAR_MODES, Materials
from agents.interp.features.rows import features_splice
from agents.interp.features.upstream import erased_before
from agents.interp.interventions import REMOVED, Intervention, channels_set, successes
from agents.settings.sae import SaeConfig

#: How an erasure by count takes the cheese's features out.
MODES = ("zeroed", "replaced")
#: A pick's key and a row's label after the condition: cheese present, or removed.
SUFFIX = {False: "", True: REMOVED}
#: An erasure: (row kind, features written, cheese features erased or radius, mode).
ErasureKey = tuple[str, int, int, str]


@dataclass
class Searches:
    """The searches of one measurement and what they picked: `values`, then `erasures` (its
    values are those `values` picked), then `upstream_radii`; `best` after `erasures`.

    Attributes:
        mat: What the measurement read off the mazes (`agents.interp.features.materials.gather`).
        cfg: The measurement's settings (counts, multiples, scales, erasures, radii).
        erase_sae: The SAE of ``cfg.erase_hook`` whose features the upstream rows replace
            (None: the whole vector there).
        picks: Every pick by name (``"set 3"``, ``"channels 1, cheese removed"``,
            ``"move splice 11"``, ``"ceiling"``, ``"erasure conv 11"``...), with the rates
            tried.
        hit: Each searched row's successes on the search targets, by label.
        erased: Every erasure tried (`erasures`).
        upstream: Each maze map's upstream pick (``"conv 11"`` -> radius, label, rates).
    """

    mat: Materials
    cfg: SaeConfig
    erase_sae: Sae | None = None
    picks: dict[str, Any] = field(default_factory=dict)
    hit: dict[str, np.ndarray] = field(default_factory=dict)
    erased: list[ErasureKey] = field(default_factory=list)
    upstream: dict[str, Any] = field(default_factory=dict)

    @property
    def counts(self) -> list[int]:
        """How many features (or channels) each set writes, within the dictionary's width."""
        return sorted({min(n, self.mat.sae.width) for n in self.cfg.counts})

    @property
    def ranking(self) -> dict[str, list[int]]:
        """The splices' features by name: those that track the cheese (``""``), or those the
        cheese's move is in (``"move "``)."""
        return {"": self.mat.found.ranked, "move ": self.mat.by_move}

    def channels(self, n: int) -> list[int]:
        """The top ``n`` cheese channels."""
        return [r["channel"] for r in self.mat.channels.top][:n]

    def splice_row(self, name: str, n: int, scale: float, removed: bool) -> Intervention:
        """The cheese's move spliced once into the top ``n`` features of ``ranking[name]``."""
        return features_splice(self.mat.sae, self.ranking[name][:n], scale, removed, name)

    def multiple(self, kind: str, n: int, mode: str) -> float:
        """The value of a ``kind`` row of ``n`` features with an erasure of ``mode``: a
        replacement makes the maze look as if it had no cheese, so it takes the value searched
        with the cheese removed."""
        return float(self.picks[f"{kind} {n}" + SUFFIX[mode != "zeroed"]]["multiple"])

    def erase_row(self, key: ErasureKey) -> Intervention:
        """The row of an erasure (`erasures`), labelled by its key."""
        kind, n, e, mode = key
        return self.mat.row(kind, n, self.multiple(kind, n, mode), e, mode, label=str(key))

    def upstream_row(self, kind: str, n: int, radius: int) -> Intervention:
        """A maze map's write (at the value searched with the cheese removed) with the cheese
        erased within ``radius`` at ``cfg.erase_hook`` first."""
        assert self.cfg.erase_hook
        row = self.mat.row(kind, n, self.multiple(kind, n, "replaced"))
        return erased_before(row, self.cfg.erase_hook, radius, self.erase_sae)

    def values(self) -> None:
        """Search 1: the multiples of the feature and channel sets, the splices' scales and the
        ceiling's place and scale, cheese present and removed."""
        cfg, mat, counts = self.cfg, self.mat, self.counts
        rows: list[Intervention] = []
        for n in counts:
            chans = self.channels(n)
            for m in cfg.multiples:
                for rem in CONDITIONS:
                    for kind in mat.kinds:
                        rows.append(mat.row(kind, n, m, removed=rem, label=f"{kind}{n} x{m}"))
                    big_c = mat.channels.largest(chans)
                    rows.append(channels_set(f"c{n} x{m}", chans, m * big_c, removed=rem))
        rows += ceiling_rows(cfg.scales)
        rows += [
            self.splice_row(name, n, s, rem)
            for name in self.ranking
            for n in counts
            for s in cfg.scales
            for rem in CONDITIONS
        ]
        self.hit.update(successes(rows, mat.search))
        multiples = list(cfg.multiples)
        for n in counts:
            chans = self.channels(n)
            for rem in CONDITIONS:
                sfx = SUFFIX[rem]
                for kind in mat.kinds:
                    m, tried = best_of(self.hit, multiples, lambda m: f"{kind}{n} x{m}" + sfx)  # noqa: B023
                    self.picks[f"{kind} {n}{sfx}"] = {"multiple": m, "tried": tried}
                m, tried = best_of(self.hit, multiples, lambda m: f"c{n} x{m}" + sfx)  # noqa: B023
                value = m * mat.channels.largest(chans)
                self.picks[f"channels {n}{sfx}"] = {
                    "channels": chans, "value": value, "tried": tried
                }  # fmt: skip
        for name in self.ranking:
            for n in counts:
                for rem in CONDITIONS:
                    lab = lambda s: self.splice_row(name, n, s, rem).label  # noqa: B023, E731
                    s, tried = best_of(self.hit, list(cfg.scales), lab)
                    self.picks[f"{name}splice {n}{SUFFIX[rem]}"] = {"scale": s, "tried": tried}
        for rem in CONDITIONS:
            self.picks[f"ceiling{SUFFIX[rem]}"] = pick_ceiling(self.hit, cfg.scales, rem)

    def erasures(self) -> None:
        """Search 2, with the cheese present: how many of the cheese's features, zeroed or
        replaced; with a map kind, every cheese feature replaced or everything within a radius
        of the cheese (features, or the whole vector) replaced by its cheese-removed value, or
        (a maze map) its own map at the cheese subtracted ("predicted")."""
        cfg, mat, counts = self.cfg, self.mat, self.counts
        self.erased = [
            (kind, n, e, mode)
            for kind in KINDS
            for n in counts
            for e in cfg.erase_counts
            for mode in MODES
            if e > 0 or mode == "zeroed"
        ]
        self.erased += [
            (kind, n, e, mode)
            for kind in mat.kinds[len(KINDS) :]
            for n in counts
            for e, mode in [(max(cfg.erase_counts), "replaced")]
            + [(r, m) for r in cfg.erase_radii for m in NEAR_MODES]
            + ([(1, "predicted")] if kind in mat.mazemaps else [])
            if e > 0
        ]
        rows = [self.erase_row(k) for k in self.erased]
        alone = {str(k) for k in self.erased if k[3] not in ("zeroed", "predicted")}
        self.hit.update(successes([r for r in rows if r.label not in alone], mat.search))
        for r in rows:  # rows that patch alone play one by one
            if r.label in alone:
                self.hit.update(successes([r], mat.search))
        for kind in mat.kinds:
            for n in counts:
                mine = [k for k in self.erased if k[:2] == (kind, n)]
                pick, tried = best_of(self.hit, mine, lambda k: str(k))
                self.picks[f"erasure {kind} {n}"] = {
                    "count": pick[2], "mode": pick[3], "tried": tried
                }  # fmt: skip

    def upstream_radii(self) -> None:
        """Search 3 (with ``cfg.erase_hook``): the radius of the cheese's erasure at the earlier
        layer under each maze map's write."""
        if not (self.cfg.erase_hook and self.cfg.erase_radii):
            return
        radii = list(self.cfg.erase_radii)
        keys = [(kind, n, r) for kind in self.mat.mazemaps for n in self.counts for r in radii]
        for key in keys:
            self.hit.update(successes([self.upstream_row(*key)], self.mat.search))
        for kind in self.mat.mazemaps:
            for n in self.counts:
                lab = lambda r: self.upstream_row(kind, n, r).label  # noqa: B023, E731
                r, tried = best_of(self.hit, radii, lab)
                self.upstream[f"{kind} {n}"] = {"radius": r, "label": lab(r), "tried": tried}

    def best(self) -> tuple[ErasureKey, ErasureKey | None]:
        """The erasure row that succeeded most, and apart the best whole-vector one (an erasure
        of the whole vector touches the SAE's error too; None if none was tried)."""
        rate = lambda k: float(self.hit[str(k)].mean())  # noqa: E731
        best = max((k for k in self.erased if k[3] != "layer"), key=rate)
        layer = [k for k in self.erased if k[3] == "layer"]
        return best, max(layer, key=rate) if layer else None
