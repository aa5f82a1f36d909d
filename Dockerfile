# The passcom peer in an image built FROM scratch around a statically linked, stripped
# binary built on the host: no registry is needed. scripts/docker-build does both steps:
#   RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked \
#     --target x86_64-unknown-linux-gnu -p passcom
#   strip -o docker/passcom target/x86_64-unknown-linux-gnu/release/passcom
#   docker build -t passcom:latest -f Dockerfile docker/
# Where a registry is reachable, Dockerfile.build does the same from source in a builder stage.
FROM scratch
COPY passcom /passcom
EXPOSE 7000 8081
VOLUME ["/data"]
ENTRYPOINT ["/passcom"]
CMD ["--help"]
