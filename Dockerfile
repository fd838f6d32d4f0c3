# The LambdaOne container image: AWS's Lambda base image for Python, the pinned packages, the code.
#
#   docker build -t lambdaone .
#   docker run --rm -p 127.0.0.1:9000:8080 -e REQUIRE=treasure:read -e ISSUER=https://issuer.example/ \
#       -e AUDIENCE=https://api.example/treasure -e JWKSPATH=https://issuer.example/.well-known/jwks.json lambdaone
#   curl -d '{"headers": {"authorization": "Bearer <token>"}}' \
#       http://127.0.0.1:9000/2015-03-31/functions/function/invocations
#
# The configuration comes from the function's environment (docker run -e, or the Lambda's settings), never
# from the image. To verify with a fixed public key instead of a JWKS, put the issuer's PEM public key (never a
# private key) in this folder, name it at build time and point SIGNATUREKEYPATH at it (relative to the task root):
#
#   docker build --build-arg KEY_FILE=issuer_public.pem -t lambdaone .
#   docker run ... -e SIGNATUREKEYPATH=issuer_public.pem lambdaone
#
# BASE_IMAGE is an argument so the same file builds on another image of the same layout (/var/task, CMD = handler).
ARG BASE_IMAGE=public.ecr.aws/lambda/python:3.12
FROM ${BASE_IMAGE}

# The packages first, so this layer is rebuilt only when requirements.txt changes. pip runs inside the image:
# the wheels fit its Python and platform, and they land at the task root beside the code. As in the zip, the task
# root holds only what the handler imports: requirements.txt stays in /tmp, and the scripts pip puts in bin/ go.
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir --requirement /tmp/requirements.txt --target "${LAMBDA_TASK_ROOT}" \
    && rm -rf "${LAMBDA_TASK_ROOT:?}/bin" /tmp/requirements.txt

# The code. Every destination ends with "/", and lambdaone/ has a COPY of its own: listing a folder among
# several sources copies its contents, not the folder, and "import lambdaone" would fail.
# Without KEY_FILE, lambda_function.py is simply named twice: nothing else is copied.
ARG KEY_FILE
COPY lambda_function.py ${KEY_FILE:-lambda_function.py} ${LAMBDA_TASK_ROOT}/
COPY lambdaone/ ${LAMBDA_TASK_ROOT}/lambdaone/

CMD ["lambda_function.handler"]
