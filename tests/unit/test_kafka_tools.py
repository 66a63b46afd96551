"""`wavestream kafka TOOL` (issue 13.3): the java command line it builds, without java:
the bootstrap option added unless given, SASL/TLS settings translated into a 0600
properties file and never on the command line."""

from __future__ import annotations

import stat

import pytest

from wavestream.stack.exceptions import StackError
from wavestream.stack.tools import TOOLS, java_client_properties, tool_command

pytestmark = pytest.mark.unit

SECRET = 'pa"ss\\word'
SASL_ENV = {
    "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": "broker:9093",
    "WAVESTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "WAVESTREAM_KAFKA_SASL_MECHANISMS": "SCRAM-SHA-512",
    "WAVESTREAM_KAFKA_SASL_USERNAME": "ops",
    "WAVESTREAM_KAFKA_SASL_PASSWORD": SECRET,
}


def _cmd(args, env, tmp_path, name="consumer-groups"):
    return tool_command(name, args, java="java", classpath="/libs/*", env=env, workdir=tmp_path)


def test_plaintext_adds_the_bootstrap_and_no_config(tmp_path):
    cmd = _cmd(["--describe", "--all-groups"], {"WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": "h:1"}, tmp_path)
    main = cmd.index(TOOLS["consumer-groups"].main_class)
    assert cmd[:2] == ["java", "-Xmx512m"] and cmd[main - 2:main] == ["-cp", "/libs/*"]
    assert cmd[main + 1:] == ["--bootstrap-server", "h:1", "--describe", "--all-groups"]
    assert not (tmp_path / "client.properties").exists()


def test_a_given_bootstrap_wins_and_help_needs_none(tmp_path):
    cmd = _cmd(["--bootstrap-server=other:2", "--list"], {"WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": "h:1"}, tmp_path)
    assert "h:1" not in cmd and cmd[-2:] == ["--bootstrap-server=other:2", "--list"]
    assert _cmd(["--help"], {}, tmp_path, name="kafka-topics")[-1] == "--help"


def test_no_bootstrap_anywhere_is_a_clear_error(tmp_path):
    with pytest.raises(StackError, match="WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS"):
        _cmd(["--list"], {}, tmp_path, name="topics")


def test_unknown_tool_names_the_known_ones(tmp_path):
    with pytest.raises(StackError, match="consumer-groups, delete-records"):
        _cmd([], {}, tmp_path, name="consumer-group")


def test_sasl_goes_into_a_private_file_not_the_command_line(tmp_path):
    cmd = _cmd(["--list"], SASL_ENV, tmp_path, name="transactions")
    config = tmp_path / "client.properties"
    assert cmd[cmd.index("--command-config") + 1] == str(config)
    assert cmd.index("--command-config") < cmd.index("--list")  # before the subcommand
    assert not any("ss" in part and "word" in part for part in cmd)
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    text = config.read_text()
    assert "security.protocol=SASL_SSL\n" in text and "sasl.mechanism=SCRAM-SHA-512\n" in text
    # Escaped twice: for the JAAS string, then for java.util.Properties.
    assert ('sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
            'username="ops" password="pa\\\\"ss\\\\\\\\word";\n') in text


def test_console_consumer_uses_its_own_config_option(tmp_path):
    cmd = _cmd(["--topic", "events"], SASL_ENV, tmp_path, name="console-consumer")
    assert "--consumer.config" in cmd and "--command-config" not in cmd


def test_tls_files_map_to_pem_stores(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nBBB\n-----END PRIVATE KEY-----\n")
    props = java_client_properties({"security.protocol": "SSL", "ssl.ca.location": "/ca.pem",
                                    "ssl.certificate.location": str(cert), "ssl.key.location": str(key),
                                    "ssl.endpoint.identification.algorithm": "none"})
    assert props["ssl.truststore.type"] == "PEM" and props["ssl.truststore.location"] == "/ca.pem"
    assert props["ssl.keystore.certificate.chain"] == cert.read_text() and props["ssl.keystore.key"] == key.read_text()
    assert props["ssl.endpoint.identification.algorithm"] == ""
    assert java_client_properties({"security.protocol": "plaintext", "client.id": "x"}) == {}


def test_a_mechanism_without_a_login_module_here_is_refused():
    with pytest.raises(StackError, match="--command-config"):
        java_client_properties({"sasl.mechanisms": "OAUTHBEARER", "sasl.username": "u", "sasl.password": "p"})
