"""The socket sampler's Prometheus textfile: per destination, only outgoing
connections from the ephemeral range, in the text format node_exporter reads."""
from churnlab.evidence import sockets

REPRO = {"port_range": [50000, 50999], "port_range_size": 1000, "tcp_tw_reuse": 0}


def _rows():
    rows = [("172.18.0.5", 50000 + i, "172.18.0.2", 5432, "TIME_WAIT") for i in range(600)]
    rows += [("172.18.0.5", 50600 + i, "172.18.0.2", 5432, "ESTABLISHED") for i in range(300)]
    rows += [("172.18.0.5", 50950 + i, "172.18.0.9", 443, "ESTABLISHED") for i in range(5)]
    rows += [("0.0.0.0", 8000, "0.0.0.0", 0, "LISTEN"),
             # Inbound to gunicorn: the local port is 8000, not from the range.
             ("172.18.0.5", 8000, "172.18.0.7", 40000, "ESTABLISHED")]
    return rows


def _samples(text: str) -> dict[str, float]:
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_destinations_count_only_outgoing_ports_of_the_range():
    dests = sockets.destinations(_rows(), REPRO)
    assert dests == {"172.18.0.2:5432": {"local_ports": 900, "time_wait": 600, "established": 300},
                     "172.18.0.9:443": {"local_ports": 5, "established": 5}}


def test_textfile_names_known_destinations_and_counts_states():
    text = sockets.prometheus_text(_rows(), REPRO, {("172.18.0.2", 5432): "db:5432"})
    samples = _samples(text)
    db = 'destination="172.18.0.2:5432",name="db:5432"'
    assert samples["churnlab_ephemeral_port_range_size"] == 1000
    assert samples["churnlab_ephemeral_ports_in_use"] == 905
    assert samples[f"churnlab_destination_local_ports{{{db}}}"] == 900
    assert samples[f'churnlab_destination_sockets{{{db},state="time_wait"}}'] == 600
    assert samples[f'churnlab_destination_sockets{{{db},state="syn_sent"}}'] == 0
    other = 'destination="172.18.0.9:443",name="172.18.0.9:443"'
    assert samples[f"churnlab_destination_local_ports{{{other}}}"] == 5
    # Every metric has its HELP and TYPE, as the text format wants.
    for metric in ("churnlab_ephemeral_port_range_size", "churnlab_destination_sockets"):
        assert f"# TYPE {metric} gauge" in text and f"# HELP {metric} " in text


def test_textfile_keeps_the_busiest_destinations_only():
    rows = [("10.0.0.1", 50000 + i, f"10.0.1.{i}", 5432, "TIME_WAIT") for i in range(30)]
    samples = _samples(sockets.prometheus_text(rows, REPRO, top=20))
    assert sum(1 for name in samples if name.startswith("churnlab_destination_local_ports")) == 20


def test_textfile_is_replaced_atomically(tmp_path):
    target = tmp_path / "churnlab_sockets.prom"
    sockets.write_textfile(str(target), "a 1\n")
    sockets.write_textfile(str(target), "a 2\n")
    assert target.read_text() == "a 2\n" and [p.name for p in tmp_path.iterdir()] == [target.name]
