from services.notifier.app import definition
from shared.service import run

run(definition)
