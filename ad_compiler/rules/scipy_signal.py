"""Rules for scipy.signal, reverse and forward side by side.

The adjoint of a convolution is a correlation with the other operand,
taken over the full output (the adjoint of a 'same' or 'valid' output is
first embedded where that output sits in the full one).
"""
from scipy import signal

from ad_compiler import runtime_scipy as ads
from ad_compiler.registry import forward, reverse

d = None  # the d[x] notation of templates; never evaluated


@reverse(signal.convolve, name="scipy.signal.convolve")
def convolve(z, in1, in2, mode="full", method="auto"):
    d[in1] = ads.convolve_grad1(d[z], in1, in2, mode)
    d[in2] = ads.convolve_grad2(d[z], in1, in2, mode)


@forward(signal.convolve, name="scipy.signal.convolve")
def convolve(z, in1, in2, mode="full", method="auto"):
    d[z] = signal.convolve(d[in1], in2, mode) + signal.convolve(in1, d[in2], mode)


@forward(ads.convolve_grad1)
def convolve_grad1(z, g, in1, in2, mode="full"):
    # linear in g and in2; in1 only gives the shape
    d[z] = ads.convolve_grad1(d[g], in1, in2, mode) + ads.convolve_grad1(g, in1, d[in2], mode)


@forward(ads.convolve_grad2)
def convolve_grad2(z, g, in1, in2, mode="full"):
    d[z] = ads.convolve_grad2(d[g], in1, in2, mode) + ads.convolve_grad2(g, d[in1], in2, mode)
