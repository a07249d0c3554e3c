

def test_command_line_fits_a_bayesian_model(tmp_path, capsys):
    from fastem import cli
    X, _ = DATASETS["blobs"]()
    data, model_path = tmp_path / "x.npy", tmp_path / "m.npz"
    np.save(data, X)
    assert cli.main(["fit", str(data), "-k", "6", "--bayesian", "--random-state", "0",
                     "-q", "-o", str(model_path)]) == 0
    model = fastem.load(model_path)
    assert type(model) is fastem.BayesianGaussianMixture and model.n_components == 6
    with pytest.raises(SystemExit):
        cli.main(["fit", str(data), "--labels", str(data), "--bayesian", "-o",
                  str(model_path)])
