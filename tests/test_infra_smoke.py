from restore_drill.fixtures.database import Database


def test_pg_database_answers_and_is_isolated(pg_database: Database, drill_infra) -> None:
    other = drill_infra.database()
    try:
        assert other.name != pg_database.name
        with pg_database.connect(autocommit=True) as c:
            c.execute("CREATE TABLE only_here (x int)")
        with other.connect() as c:
            assert c.execute("SELECT to_regclass('public.only_here')").fetchone()[0] is None
    finally:
        drill_infra.drop(other)


def test_s3_bucket_roundtrip(s3_bucket) -> None:
    c = s3_bucket.endpoint.client()
    c.put_object(Bucket=s3_bucket.name, Key="k", Body=b"v")
    assert c.get_object(Bucket=s3_bucket.name, Key="k")["Body"].read() == b"v"
