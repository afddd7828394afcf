-- Customer messages (issue 18, API.md "Customer messages"): with the
-- setting customer_messages on (0024, off by default), pickup, deliver and
-- fail write customer.out_for_delivery, customer.delivered and
-- customer.delivery_failed events whose text is made from these templates
-- by customer_message() (sql/schema/events.sql). Placeholders:
-- {order_number}, {driver_first_name}, {tracking_url} (PUBLIC_BASE_URL +
-- /t/ + the tracking token; empty without PUBLIC_BASE_URL) and {eta} (the
-- ETA in business_timezone(), "YYYY-MM-DD HH24:MI"; empty when none).
-- customer_message_default_lang: the language of every message ("ar" or
-- "en"; customers have no language of their own yet).
-- Validated by src/service/settings.c (ST_TEMPLATES, ST_LANG).
INSERT INTO settings (key, value) VALUES
  ('customer_message_templates', $json${
    "out_for_delivery": {
      "ar": "طلبك رقم {order_number} في الطريق إليك مع المندوب {driver_first_name}. تتبّع الطلب: {tracking_url}",
      "en": "Your order {order_number} is on its way with our driver {driver_first_name}. Track it: {tracking_url}"
    },
    "delivered": {
      "ar": "تم توصيل طلبك رقم {order_number}. شكراً لاختيارك صيدليتنا، مع تمنياتنا لك بدوام الصحة والعافية.",
      "en": "Your order {order_number} has been delivered. Thank you for choosing our pharmacy; we wish you good health."
    },
    "delivery_failed": {
      "ar": "تعذّر توصيل طلبك رقم {order_number}. سنتواصل معك لتحديد موعد توصيل جديد. حالة الطلب: {tracking_url}",
      "en": "We could not deliver your order {order_number}. We will contact you to arrange a new delivery time. Order status: {tracking_url}"
    }
  }$json$),
  ('customer_message_default_lang', '"ar"')
  ON CONFLICT (key) DO NOTHING;
