"""mazegen: a fast, batched, pure-numpy cheese maze (procgen ``maze``) with editable states.

Importing this package registers ``mazegen/CheeseMaze-v0`` and ``mazegen/ProcgenMaze-v0``
(procgen's ``maze`` level for level and pixel for pixel; keywords ``distribution_mode``
"hard" (default) or "easy", ``rand_region`` (procgenAISC's cheese region; default None, the
vanilla maze)) with Gymnasium.
"""

from gymnasium.envs.registration import register, registry

from mazegen.actions import DIRECTIONS, direction_probs, num_actions
from mazegen.batch import Autoreset, MazeBatch
from mazegen.config import MazeConfig, MazeConfigError
from mazegen.env import CheeseMazeEnv, CheeseMazeVectorEnv, procgen_config
from mazegen.generate import generate, generate_batch, generate_levels, level_rng
from mazegen.procgen_textures import ProcgenTexturesMissing
from mazegen.queries import decision_square, distances, is_tree, open_squares, shortest_path
from mazegen.render import render_frame
from mazegen.state import BatchState, MazeState, MazeStateError, load_states, save_states

ENV_ID = "mazegen/CheeseMaze-v0"
PROCGEN_ENV_ID = "mazegen/ProcgenMaze-v0"

if ENV_ID not in registry:
    register(
        id=ENV_ID,
        entry_point="mazegen.env:CheeseMazeEnv",
        vector_entry_point="mazegen.env:make_vector_env",
    )
if PROCGEN_ENV_ID not in registry:
    register(
        id=PROCGEN_ENV_ID,
        entry_point="mazegen.env:make_procgen_env",
        vector_entry_point="mazegen.env:make_procgen_vector_env",
    )

__all__ = [
    "DIRECTIONS",
    "ENV_ID",
    "PROCGEN_ENV_ID",
    "Autoreset",
    "BatchState",
    "CheeseMazeEnv",
    "CheeseMazeVectorEnv",
    "MazeBatch",
    "MazeConfig",
    "MazeConfigError",
    "MazeState",
    "MazeStateError",
    "ProcgenTexturesMissing",
    "decision_square",
    "direction_probs",
    "distances",
    "generate",
    "generate_batch",
    "generate_levels",
    "is_tree",
    "level_rng",
    "load_states",
    "num_actions",
    "open_squares",
    "procgen_config",
    "render_frame",
    "save_states",
    "shortest_path",
]
