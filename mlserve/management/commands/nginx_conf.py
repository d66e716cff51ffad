import os

from django.core.management.base import BaseCommand

from mlserve import front


class Command(BaseCommand):
    help = (
        "Print nginx's configuration for mlserve (from deploy/nginx.conf), or write it with its folders "
        "(--write). make run does this; in production, render it once and run nginx with it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--listen", default=None, help="Where nginx listens (default: MLSERVE_BIND, 127.0.0.1:8000)")
        parser.add_argument(
            "--upstream", action="append", default=None,
            help="A gunicorn address, e.g. unix:/srv/mlserve/run/gunicorn.sock or 10.0.0.2:8000 (repeat for several)",
        )
        parser.add_argument("--write", action="store_true", help="Write it under $MLSERVE_DATA_DIR/run/nginx/ instead")

    def handle(self, *args, **options):
        listen = options["listen"] or os.environ.get("MLSERVE_BIND", "127.0.0.1:8000")
        upstreams = options["upstream"] or [f"unix:{front.gunicorn_socket()}"]
        if options["write"]:
            self.stdout.write(str(front.write_nginx_conf(listen=listen, upstreams=upstreams)))
            return
        directory = front.run_dir() / "nginx"
        self.stdout.write(front.render_nginx_conf(front.nginx_context(listen=listen, upstreams=upstreams, directory=directory)))
