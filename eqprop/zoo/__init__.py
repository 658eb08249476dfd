"""The seed package's model zoo, rebuilt for the verification tracks.

Each model says which paper or idea it implements and how it is trained. Those trained by
Equilibrium Propagation either subclass `eqprop.eqpropnet.EqPropNet` (ternary, feedback alignment,
lazy) and reuse its contrastive update, or follow its interface (``eqprop_step(x, target, opt)``,
``predict``) so that `eqprop.train.Learner` drives them. `EquilibriumAttention` is trained by
backprop through its relaxation and `TemporalResonance` is not trained at all (see their modules).
"""

from eqprop.zoo.attention import EquilibriumAttention
from eqprop.zoo.conv import ConvEqProp
from eqprop.zoo.feedback_alignment import FeedbackAlignmentEqProp
from eqprop.zoo.homeostatic import HomeostaticEqProp
from eqprop.zoo.lazy import LazyEqProp
from eqprop.zoo.neural_cube import NeuralCube
from eqprop.zoo.numpy_kernel import NumpyEqProp
from eqprop.zoo.temporal_resonance import TemporalResonance
from eqprop.zoo.ternary import TernaryEqProp

__all__ = ["ConvEqProp", "EquilibriumAttention", "FeedbackAlignmentEqProp", "HomeostaticEqProp", "LazyEqProp",
           "NeuralCube", "NumpyEqProp", "TemporalResonance", "TernaryEqProp"]
