"""Runs in a separate interpreter with Apache Spark (pyspark in local mode on the machine's Java): decrypts
the given ciphertexts with Spark's own ``aes_decrypt`` and encrypts the given plaintexts with
``aes_encrypt``, both in GCM mode. Reads a JSON request on stdin, prints a JSON answer on its last line."""

import json
import sys

from pyspark.sql import SparkSession

request = json.loads(sys.stdin.read())
spark = SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false").getOrCreate()
spark.sparkContext.setLogLevel("ERROR")
key = request["key"]
ciphertexts = spark.createDataFrame([(c,) for c in request["ciphertexts"]], "c string")
plaintexts = spark.createDataFrame([(p,) for p in request["plaintexts"]], "p string")
answer = {
    "decrypted": [
        r[0]
        for r in ciphertexts.selectExpr(
            f"CAST(aes_decrypt(unbase64(c), unbase64('{key}'), 'GCM') AS STRING)"
        ).collect()
    ],
    "encrypted": [
        r[0] for r in plaintexts.selectExpr(f"base64(aes_encrypt(p, unbase64('{key}'), 'GCM'))").collect()
    ],
}
spark.stop()
print(json.dumps(answer))
