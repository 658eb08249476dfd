import torch

from eqprop.zoo.conv import ConvEqProp


def _net():
    return ConvEqProp((2, 3), 4, image=4, generator=torch.Generator().manual_seed(0)).double()


def test_relaxation_descends_the_energy():
    net = _net()
    x = torch.rand(3, 16, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    xi = x.reshape(-1, 1, 4, 4)
    s = None
    energies = []
    with torch.no_grad():
        for _ in range(20):
            s = net.relax(x, s, steps=1)
            energies.append(float(net.energy(xi, s)))
    assert all(b <= a + 1e-12 for a, b in zip(energies, energies[1:], strict=False))


def test_top_down_drive_is_the_transposed_convolution():
    net = _net()
    s2 = torch.rand(1, 3, 2, 2, dtype=torch.float64)
    s1 = torch.zeros(1, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    drive = torch.autograd.grad((s2 * net.conv2(s1)).sum(), s1)[0]
    ref = torch.nn.functional.conv_transpose2d(s2, net.conv2.weight, stride=2, padding=1, output_padding=1)
    torch.testing.assert_close(drive, ref)


def test_update_of_the_dense_layer_is_the_contrastive_hebbian_rule():
    """For the dense read-out, dPhi/dW = y s_2^T: the update must be (y+ s2+^T - y- s2-^T) / (2 beta B)."""
    net = _net()
    x = torch.rand(2, 16, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    y = torch.eye(4, dtype=torch.float64)[:2]
    w0 = net.fc.weight.detach().clone()
    with torch.no_grad():
        free = net.relax(x, steps=net.free_steps)
        pos = net.relax(x, free, steps=net.nudge_steps, beta=net.beta, target=y)
        neg = net.relax(x, free, steps=net.nudge_steps, beta=-net.beta, target=y)
    expected = w0 + (pos[2].T @ pos[1].flatten(1) - neg[2].T @ neg[1].flatten(1)) / (2 * net.beta * 2)
    net.eqprop_step(x, y, torch.optim.SGD(net.parameters(), lr=1.0))
    torch.testing.assert_close(net.fc.weight.detach(), expected)
