"""The local servers the tests and the demo run on."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import boto3
import pytest
from ifuno_shared.local import CapturingSmtpServer, LocalKafkaBroker
from ifuno_shared.testing.kafka import kafka_consume, kafka_produce
from moto.server import ThreadedMotoServer

pytestmark = pytest.mark.integration


async def test_a_broker_with_s3_storage_keeps_records_across_a_restart(tmp_path: Path) -> None:
    s3 = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    s3.start()
    try:
        host, port = s3.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            region_name="eu-west-3",
        ).create_bucket(
            Bucket="tansu", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"}
        )
        broker = LocalKafkaBroker(log_file=tmp_path / "broker.log", s3_endpoint=endpoint)
        broker.start()
        try:
            await broker.create_topics(["durable"], partitions=1)
            await kafka_produce(broker.bootstrap, "durable", [(b"k", b"kept")])
            broker.stop()
            broker.start()
            [record] = await kafka_consume(broker.bootstrap, "durable", 1)
            assert record.value == b"kept"
        finally:
            broker.stop()
    finally:
        s3.stop()


async def test_the_smtp_server_captures_refuses_and_comes_back_on_its_port(
    smtp_server: CapturingSmtpServer,
) -> None:
    def mail(to: str) -> EmailMessage:
        message = EmailMessage()
        message["From"], message["To"], message["Subject"] = "a@example.org", to, "Objet accentué"
        message.set_content("Bonjour")
        return message

    smtp_server.reject("nobody@*")
    await aiosmtplib.send(mail("zoe@example.org"), hostname=smtp_server.host, port=smtp_server.port)
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
        await aiosmtplib.send(
            mail("nobody@example.org"), hostname=smtp_server.host, port=smtp_server.port
        )
    smtp_server.stop()
    with pytest.raises(aiosmtplib.SMTPConnectError):
        await aiosmtplib.send(
            mail("zoe@example.org"), hostname=smtp_server.host, port=smtp_server.port
        )
    smtp_server.start()
    await aiosmtplib.send(mail("zoe@example.org"), hostname=smtp_server.host, port=smtp_server.port)
    assert [str(m["Subject"]) for m in smtp_server.to("zoe@example.org")] == ["Objet accentué"] * 2
    assert len(list((smtp_server.folder or Path()).glob("*.eml"))) == 2
