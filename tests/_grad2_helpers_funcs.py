"""Functions for tests/test_grad2_helpers.py: second and third derivatives
through user helpers whose reverse sweep is split in two functions
(``net_fwd`` / ``net_bwd``) and keeps a tape stack (a loop inside the
helper).  Loaded twice: as is, and with ``np`` = ``autograd.numpy``."""
from typing import NamedTuple

import numpy as np


def net(layers, h):
    for W, b in layers:
        h = np.tanh(W @ h + b)
    return h


def net_list(Ws, h):
    for W in Ws:
        h = np.tanh(W @ h)
    return h


def first_bias(layers):
    W, b = layers[0]
    return np.sum(b * b) + np.sum(W[0])


def affine_sin(layers, h):
    # the loop's values are inactive in the forward sweep (layers are not
    # differentiated) and active in the backward one (they come from the tape)
    for W, b in layers:
        h = W @ h + b
    return np.sin(h)


# --- scalar x: grad(grad(f)), hessian, jacobian(grad(f), mode="rev") -------

def s_net(x, params, z):
    return np.sum(net(params, z * x))


def s_net_list(x, Ws, z):
    return np.sum(net_list(Ws, z * x))


def s_affine(x, params, z):
    return np.sum(affine_sin(params, z * x)) * x


def s_first_bias_twice(x, params):
    # the second call's cotangent is constant, the first's depends on x: the
    # accumulated derivative of params adds a zero tangent to a list's
    return x * x * x * first_bias(params) + first_bias(params)


def s_fuzz_helpers(x, params):
    # (tests/progen.py's helpers program 5151016758, reduced)
    v2 = np.abs(x + 1j * first_bias(params)) ** 2
    return np.sum(net(params, v2 * np.ones(3))) + first_bias(params)


class Layer(NamedTuple):
    W: np.ndarray
    b: np.ndarray


def s_record(x, p):
    # a record argument, not differentiated (BUG-27)
    return np.sum(np.tanh(p.W * x) + p.b)


def s_dict_get(x, d):
    # d.get of a missing key (BUG-27b)
    return np.sum(np.tanh(d['W'] * x)) + d.get('c', 0.5)


SCALAR = ["s_net", "s_net_list", "s_affine", "s_first_bias_twice", "s_fuzz_helpers",
          "s_record", "s_dict_get"]


# --- array z: hessian(f, wrt=z), the tape values active in both sweeps ------

def a_net(z, W1, b1, W2, b2):
    return np.sum(net([(W1, b1), (W2, b2)], z)) + np.sum(z * z)


def a_weights(W1, z, b1, W2, b2):
    return np.sum(net([(W1, b1), (W2, b2)], z))


ARRAY = ["a_net", "a_weights"]
