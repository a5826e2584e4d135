import numpy as np
import pytest

from ser_core.placement import Placement


def clusters(seed=0, per_cluster=50, dims=16):
    """Two Gaussian clusters in embedding space mapped to two far-apart map regions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 5, size=(2, dims))
    embeddings = np.concatenate([c + rng.normal(size=(per_cluster, dims)) for c in centres])
    coords = np.concatenate([rng.normal(loc, 1.0, size=(per_cluster, 2)) for loc in ((-20, 0), (20, 0))])
    return embeddings, coords, centres


def test_new_clip_lands_in_its_cluster():
    embeddings, coords, centres = clusters()
    placement = Placement(n_neighbors=8).fit(embeddings, coords)
    xy = placement.place(centres[1] + 0.1)
    assert xy.shape == (2,)
    assert 15 < xy[0] < 25 and abs(xy[1]) < 3
    many = placement.place(np.stack([centres[0], centres[1]]))
    assert many.shape == (2, 2) and many[0, 0] < -15 and many[1, 0] > 15


def test_a_mapped_clip_lands_on_itself_and_is_its_own_nearest_neighbour():
    embeddings, coords, _ = clusters()
    placement = Placement().fit(embeddings, coords)
    assert placement.place(embeddings[7]) == pytest.approx(coords[7], abs=0.05)
    rows, distances = placement.neighbors(embeddings[7])
    assert rows.shape == distances.shape == (1, 10)
    assert rows[0, 0] == 7 and distances[0, 0] == pytest.approx(0, abs=1e-2)
    assert np.all(np.diff(distances[0]) >= 0)


def test_fewer_points_than_neighbours_and_3d_maps():
    embeddings, coords, _ = clusters(per_cluster=2)
    coords3 = np.c_[coords, np.zeros(len(coords))]
    placement = Placement(n_neighbors=10).fit(embeddings, coords3)
    assert placement.neighbors(embeddings[0])[0].shape == (1, 4)
    assert placement.place(embeddings[0]).shape == (3,)


def test_bad_shapes_raise():
    embeddings, coords, _ = clusters()
    with pytest.raises(ValueError, match="coordinates"):
        Placement().fit(embeddings, coords[:-1])
    placement = Placement().fit(embeddings, coords)
    with pytest.raises(ValueError, match="size 16"):
        placement.place(np.zeros(5))
    with pytest.raises(ValueError, match="n_neighbors"):
        Placement(n_neighbors=0)
