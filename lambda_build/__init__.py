"""Build tooling for shipping the Lambda: the deployment zip and what proves the container image.

- ``build_zip``     ``python -m lambda_build.build_zip`` (``make zip``): the reproducible deployment zip;
- ``interpreters``  finds the Python of the Lambda's runtime version on this machine;
- ``containers``    the Docker CLI: is an engine running, is an image present, build, run, clean up;
- ``standin_base``  a stand-in for AWS's Lambda base image, built from Debian packages, for machines
                    that cannot pull ``public.ecr.aws/lambda/python``;
- ``runtime_api``   a tiny Lambda runtime API server that feeds events to a runtime interface client.

None of it is deployed: the Lambda itself is ``lambda_function.py`` and ``lambdaone/``.
"""
