"""The bench database's seeded credentials outlast a full run."""

import time

from django.core import signing

from bench.database import TOKEN_MAX_AGE, Database
from bench.servers import SECRET_KEY
from realtime.auth import SALT


def test_seeded_access_tokens_outlast_a_full_run(redis_url, tmp_path):
    # Every contender opens with the tokens minted at the start; a full run
    # took 70 minutes once, past the server's default hour.
    before = time.time()
    database = Database(tmp_path, redis_url, users=3, cookies=False)

    tokens = database.credentials["tokens"]
    assert len(tokens) == 3
    for token in tokens:
        claims = signing.loads(token, key=SECRET_KEY, salt=SALT)
        assert claims["e"] >= before + TOKEN_MAX_AGE - 60
    assert TOKEN_MAX_AGE >= 6 * 3600
