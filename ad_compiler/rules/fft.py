"""Rules for ``numpy.fft``, reverse and forward side by side.

Every transform is linear, so a forward rule applies the transform to the
tangent.  Reverse rules apply the transpose (autograd's convention for
complex values: no conjugation for complex-linear maps): the DFT matrix is
symmetric, so the adjoint of ``fft`` is ``fft`` of the cotangent (same
``norm``), truncated or zero-padded back to the input's shape, and its real
part when the input is real.  ``rfft``/``irfft`` (odd lengths included)
account for the half spectrum: ``irfft`` counts the bins other than 0 and
n/2 twice.
"""
import numpy as np

from ad_compiler import runtime_numpy as adn
from ad_compiler.registry import forward, nondifferentiable, reverse

d = None  # the d[x] notation of templates; never evaluated


@reverse(np.fft.fft)
def fft(z, a, n=None, axis=-1, norm=None, out=None):
    d[a] = adn.match_complex(adn.fit(np.fft.fft(d[z], None, axis, norm), a), a)


@forward(np.fft.fft)
def fft(z, a, n=None, axis=-1, norm=None, out=None):
    d[z] = np.fft.fft(d[a], n, axis, norm)


@reverse(np.fft.ifft)
def ifft(z, a, n=None, axis=-1, norm=None, out=None):
    d[a] = adn.match_complex(adn.fit(np.fft.ifft(d[z], None, axis, norm), a), a)


@forward(np.fft.ifft)
def ifft(z, a, n=None, axis=-1, norm=None, out=None):
    d[z] = np.fft.ifft(d[a], n, axis, norm)


@reverse(np.fft.fft2)
def fft2(z, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[a] = adn.match_complex(adn.fit(np.fft.fft2(d[z], s, axes, norm), a), a)


@forward(np.fft.fft2)
def fft2(z, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[z] = np.fft.fft2(d[a], s, axes, norm)


@reverse(np.fft.ifft2)
def ifft2(z, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[a] = adn.match_complex(adn.fit(np.fft.ifft2(d[z], s, axes, norm), a), a)


@forward(np.fft.ifft2)
def ifft2(z, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[z] = np.fft.ifft2(d[a], s, axes, norm)


@reverse(np.fft.fftn)
def fftn(z, a, s=None, axes=None, norm=None, out=None):
    d[a] = adn.match_complex(adn.fit(np.fft.fftn(d[z], s, axes, norm), a), a)


@forward(np.fft.fftn)
def fftn(z, a, s=None, axes=None, norm=None, out=None):
    d[z] = np.fft.fftn(d[a], s, axes, norm)


@reverse(np.fft.ifftn)
def ifftn(z, a, s=None, axes=None, norm=None, out=None):
    d[a] = adn.match_complex(adn.fit(np.fft.ifftn(d[z], s, axes, norm), a), a)


@forward(np.fft.ifftn)
def ifftn(z, a, s=None, axes=None, norm=None, out=None):
    d[z] = np.fft.ifftn(d[a], s, axes, norm)


# real input: pad the half spectrum's cotangent to the full length, take the
# full transform's transpose, keep the real part
@reverse(np.fft.rfft)
def rfft(z, a, n=None, axis=-1, norm=None, out=None):
    d[a] = adn.match_complex(np.real(adn.fit(np.fft.fft(
        adn.fit_axis(d[z], adn.fft_len(a, n, axis), axis), None, axis, norm), a)), a)


@forward(np.fft.rfft)
def rfft(z, a, n=None, axis=-1, norm=None, out=None):
    d[z] = np.fft.rfft(d[a], n, axis, norm)


@reverse(np.fft.rfft2)
def rfft2(z, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[a] = adn.match_complex(np.real(adn.fit(np.fft.fftn(
        adn.fit_axis(d[z], adn.rfftn_last_len(a, s, axes), adn.rfftn_last_axis(a, s, axes)),
        s, axes, norm), a)), a)


@forward(np.fft.rfft2)
def rfft2(z, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[z] = np.fft.rfft2(d[a], s, axes, norm)


@reverse(np.fft.rfftn)
def rfftn(z, a, s=None, axes=None, norm=None, out=None):
    d[a] = adn.match_complex(np.real(adn.fit(np.fft.fftn(
        adn.fit_axis(d[z], adn.rfftn_last_len(a, s, axes), adn.rfftn_last_axis(a, s, axes)),
        s, axes, norm), a)), a)


@forward(np.fft.rfftn)
def rfftn(z, a, s=None, axes=None, norm=None, out=None):
    d[z] = np.fft.rfftn(d[a], s, axes, norm)


# Hermitian input: the adjoint is the half spectrum of the cotangent's
# transform under the dual normalization, doubled where irfft counts a bin
# twice, conjugated (autograd's convention)
@reverse(np.fft.irfft)
def irfft(z, a, n=None, axis=-1, norm=None, out=None):
    d[a] = adn.match_complex(adn.fit(2.0 * adn.halve_ends(np.conj(np.fft.rfft(
        d[z], adn.irfft_len(a, n, axis), axis, adn.dual_norm(norm))),
        adn.irfft_len(a, n, axis), axis), a), a)


@forward(np.fft.irfft)
def irfft(z, a, n=None, axis=-1, norm=None, out=None):
    d[z] = np.fft.irfft(d[a], n, axis, norm)


@reverse(np.fft.irfft2)
def irfft2(z, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[a] = adn.match_complex(adn.fit(np.fft.ifftn(2.0 * adn.halve_ends(np.conj(np.fft.rfft(
        d[z], adn.irfftn_last_len(a, s, axes), adn.rfftn_last_axis(a, s, axes),
        adn.dual_norm(norm))), adn.irfftn_last_len(a, s, axes), adn.rfftn_last_axis(a, s, axes)),
        None, adn.irfftn_other_axes(a, s, axes), norm), a), a)


@forward(np.fft.irfft2)
def irfft2(z, a, s=None, axes=(-2, -1), norm=None, out=None):
    d[z] = np.fft.irfft2(d[a], s, axes, norm)


@reverse(np.fft.irfftn)
def irfftn(z, a, s=None, axes=None, norm=None, out=None):
    d[a] = adn.match_complex(adn.fit(np.fft.ifftn(2.0 * adn.halve_ends(np.conj(np.fft.rfft(
        d[z], adn.irfftn_last_len(a, s, axes), adn.rfftn_last_axis(a, s, axes),
        adn.dual_norm(norm))), adn.irfftn_last_len(a, s, axes), adn.rfftn_last_axis(a, s, axes)),
        None, adn.irfftn_other_axes(a, s, axes), norm), a), a)


@forward(np.fft.irfftn)
def irfftn(z, a, s=None, axes=None, norm=None, out=None):
    d[z] = np.fft.irfftn(d[a], s, axes, norm)


@reverse(np.fft.fftshift)
def fftshift(z, x, axes=None):
    d[x] = np.fft.ifftshift(d[z], axes)


@forward(np.fft.fftshift)
def fftshift(z, x, axes=None):
    d[z] = np.fft.fftshift(d[x], axes)


@reverse(np.fft.ifftshift)
def ifftshift(z, x, axes=None):
    d[x] = np.fft.fftshift(d[z], axes)


@forward(np.fft.ifftshift)
def ifftshift(z, x, axes=None):
    d[z] = np.fft.ifftshift(d[x], axes)


# --- forward rules of the helpers that reverse rules call (for hessian) -----

@forward(adn.fit)
def _fit(r, x, like):
    d[r] = adn.fit(d[x], like)


@forward(adn.fit_axis)
def _fit_axis(r, x, n, axis):
    d[r] = adn.fit_axis(d[x], n, axis)


@forward(adn.halve_ends)
def _halve_ends(r, x, n, axis):
    d[r] = adn.halve_ends(d[x], n, axis)


nondifferentiable(adn.dual_norm, adn.fft_len, adn.irfft_len, adn.rfftn_last_axis,
                  adn.rfftn_last_len, adn.irfftn_last_len, adn.irfftn_other_axes)
