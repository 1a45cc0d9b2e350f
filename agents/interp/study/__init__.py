"""What grows steerable cheese channels: the same mechanistic measurements on every agent of a
study, into one table (``python -m experiments.study``; the write-up: ``docs/study/index.md``).

For each agent, on held-out mazes:

1. **Behaviour** (`behaviour`): P(cheese) on the training and the test distribution, and on test
   mazes with a decision square.
2. **Cheese channels** (`cheese_channels`): each channel's tracking accuracy (the share of mazes
   where its activation change peaks at the cheese) and how many pass the threshold.
3. **Resampling** (`cheese_channels`; 2023: 0.88 % same place / 1.26 % elsewhere vs 0.54-0.60 %
   random): the mean change of the action probabilities when the top channels are taken from
   another maze with the cheese on the same square or elsewhere, against random channel sets.
4. **Retargeting** (`retargeting`; 2023: channel 55 at +5.5): the top 1 / 3 / 11 channels set at
   the target's position, each at the multiple of its largest activation that works best on
   other mazes (searched with the cheese present and removed apart), against no intervention,
   the cheese removed and the real cheese moved to the target.
5. **Position invariance** (`retargeting`): the cheese's move taken once with the mouse at the
   start and added at every step (the splices of the retargeting table), over the top channels
   and the whole layer: channels that encode the cheese's place whatever the mouse's keep
   working when the mouse moves.
6. **Channels ranked by steering** (`move`): the same splices over the channels whose removal
   costs the whole-layer splice most (ranked on other mazes).
7. **Directions instead of channels** (`move`, `agents.interp.subspace`): the splices along the
   top principal directions of the cheese's move, and the share of the move they hold against
   as many channels.
8. **Locality** (`move`): the share of the cheese's move at its two cells in the hooked layer
   and in their 3 x 3, against an even spread.
9. **Setting over the target's 3 x 3** (`retargeting.area_setting`): item 4 with the channels
   set at every position within one of the target's, on its own draw of targets.

The rest, by job: `agent` (an agent, its mazes, what it cost), `measure` (all of the above from
the settings), `cache` (saved results, reused while their key holds), `runs` (which agents,
their labels), `headline`, `table` and `plot` (the report), `pool` (figures pooled over maze
sets), `run` (the command: `run.run_study`, `run.run_pooled`).
"""
