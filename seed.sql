-- Demo data for development only: never load it into a production database.
-- init-db loads it only into an empty database. Passwords (bcrypt, cost 12):
--   admin              admin / admin123
--   customers          alice@example.com / customer123, bob@example.com / customer123
--   delivery persons   dave@example.com / courier123, erin@example.com / courier123

INSERT INTO admins (id, username, password) VALUES
  (1, 'admin', '$2b$12$weVQWyM.jRX9SLm9vGko0e2LdqaZy6aFnvr8YHn8O5XeGpt0/2gaK');

INSERT INTO customers (customer_id, name, email, password, address, phone) VALUES
  (1, 'Alice Example', 'alice@example.com', '$2b$12$KxUhI64aX.0au5IMeeM5juNIo0gmwpY/Odug/QzZBgJkyirUbsACy',
   '12 Market Street, Springfield', '+15550000001'),
  (2, 'Bob Example', 'bob@example.com', '$2b$12$KxUhI64aX.0au5IMeeM5juNIo0gmwpY/Odug/QzZBgJkyirUbsACy',
   '34 Harbour Road, Springfield', '+15550000002');

INSERT INTO delivery_persons (delivery_person_id, name, email, password, phone, location, latitude, longitude, position_at,
                              capacity_kg, capacity_parcels, depot_latitude, depot_longitude, shift_start, shift_end,
                              on_shift_since) VALUES
  (1, 'Dave Courier', 'dave@example.com', '$2b$12$IlSYK7m6NhvJXT/HRnkhIe6mSFrd5onk3Eg1jKrqIHuV0XN500nCe',
   '+15550000101', 'Elm Street', 40.712776, -74.005974, NOW(6) - INTERVAL 5 MINUTE,
   40.000, 15, 40.712800, -74.006000, TIME(NOW() - INTERVAL 2 HOUR), TIME(NOW() + INTERVAL 10 HOUR),
   NOW(6) - INTERVAL 1 HOUR),
  (2, 'Erin Courier', 'erin@example.com', '$2b$12$IlSYK7m6NhvJXT/HRnkhIe6mSFrd5onk3Eg1jKrqIHuV0XN500nCe',
   '+15550000102', NULL, NULL, NULL, NULL,
   25.000, 10, 40.730600, -73.986600, TIME(NOW() - INTERVAL 2 HOUR), TIME(NOW() + INTERVAL 10 HOUR),
   NOW(6) - INTERVAL 1 HOUR);

INSERT INTO account_emails (email, user_type, user_id) VALUES
  ('alice@example.com', 'customer', 1),
  ('bob@example.com', 'customer', 2),
  ('dave@example.com', 'delivery_person', 1),
  ('erin@example.com', 'delivery_person', 2);

INSERT INTO orders (order_id, tracking_number, customer_id, assigned_to, status, location, latitude, longitude,
                    position_at, pickup_address, delivery_address, recipient_name, recipient_phone, description,
                    weight_kg, created_at, closed_at, pickup_latitude, pickup_longitude, delivery_latitude,
                    delivery_longitude, window_start, window_end) VALUES
  (1, 'CTG4TKMBQ17TGGRYKJ', 1, NULL, 'Pending', NULL, NULL, NULL, NULL,
   '12 Market Street, Springfield', '1 Main Square, Shelbyville', 'Carol Recipient', '+15550000201',
   'Books', 1.200, NOW(6) - INTERVAL 1 HOUR, NULL,
   40.715000, -74.009000, 40.742000, -73.989000, NOW(6) + INTERVAL 1 HOUR, NOW(6) + INTERVAL 5 HOUR),
  (2, 'CTVEMZ1AK0EEP4CX05', 1, 1, 'Assigned', NULL, NULL, NULL, NULL,
   '12 Market Street, Springfield', '9 Oak Avenue, Shelbyville', 'Frank Recipient', NULL,
   'Laptop', 2.500, NOW(6) - INTERVAL 3 HOUR, NULL,
   40.715000, -74.009000, 40.728000, -73.995000, NULL, NULL),
  (3, 'CTYYZHWM6NWCYDEN1P', 1, 1, 'Out for Delivery', 'Elm Street', 40.712776, -74.005974,
   NOW(6) - INTERVAL 5 MINUTE,
   '12 Market Street, Springfield', '77 Elm Street, Springfield', 'Grace Recipient', '+15550000203',
   'Flowers', 0.800, NOW(6) - INTERVAL 1 DAY, NULL,
   40.715000, -74.009000, 40.723000, -74.003000, NULL, NULL),
  (4, 'CTQ2GP92Z1QZDZWN11', 1, 1, 'Delivered', 'Birch Lane', NULL, NULL, NULL,
   '12 Market Street, Springfield', '5 Birch Lane, Springfield', 'Heidi Recipient', NULL,
   'Shoes', 1.000, NOW(6) - INTERVAL 3 DAY, NOW(6) - INTERVAL 2 DAY,
   NULL, NULL, NULL, NULL, NULL, NULL),
  (5, 'CTFB1TMXB1HSSGAXWY', 2, NULL, 'Pending', NULL, NULL, NULL, NULL,
   '34 Harbour Road, Springfield', '2 Pier Street, Capital City', 'Ivan Recipient', NULL,
   NULL, NULL, NOW(6) - INTERVAL 30 MINUTE, NULL,
   40.708000, -74.011000, 40.759000, -73.985000, NULL, NULL),
  (6, 'CT7B1BPVRGMVZN6XQJ', 2, 2, 'Failed Attempt', 'Pier Street', NULL, NULL, NULL,
   '34 Harbour Road, Springfield', '8 Pier Street, Capital City', 'Judy Recipient', NULL,
   'Wine', 3.000, NOW(6) - INTERVAL 2 DAY, NULL,
   40.708000, -74.011000, 40.700000, -73.990000, NULL, NULL),
  -- Two more of Alice's orders out with Dave, so the README's examples each have their own: order 7 for the
  -- failed-attempt example, order 8 for the admin override (order 3 stays for delivery with the code).
  (7, 'CTK3W9P2M7XQ4DRV8N', 1, 1, 'Out for Delivery', 'Oak Avenue', NULL, NULL, NULL,
   '12 Market Street, Springfield', '21 Oak Avenue, Springfield', 'Liam Recipient', NULL,
   'Tea', 0.500, NOW(6) - INTERVAL 5 HOUR, NULL,
   40.715000, -74.009000, 40.720000, -74.000000, NULL, NULL),
  (8, 'CTM8R2T6V4Z1B9C3D5', 1, 1, 'Out for Delivery', 'Pine Road', NULL, NULL, NULL,
   '12 Market Street, Springfield', '3 Pine Road, Springfield', 'Mia Recipient', NULL,
   'Lamp', 2.000, NOW(6) - INTERVAL 4 HOUR, NULL,
   40.715000, -74.009000, 40.725000, -73.995000, NULL, NULL),
  -- Order 9, also out with Dave: the photo and signature proof example delivers it.
  (9, 'CTP7H4N2X8W5K3R6T9', 1, 1, 'Out for Delivery', 'Cedar Court', NULL, NULL, NULL,
   '12 Market Street, Springfield', '4 Cedar Court, Springfield', 'Noah Recipient', NULL,
   'Vase', 1.500, NOW(6) - INTERVAL 3 HOUR, NULL,
   40.715000, -74.009000, 40.718000, -74.004000, NULL, NULL);

INSERT INTO order_events (order_id, type, status, note, location, latitude, longitude, actor_role, actor_id,
                          actor_name, created_at) VALUES
  (1, 'created', 'Pending', 'Order placed', NULL, NULL, NULL, 'customer', 1, 'Alice Example', NOW(6) - INTERVAL 1 HOUR),
  (2, 'created', 'Pending', 'Order placed', NULL, NULL, NULL, 'customer', 1, 'Alice Example', NOW(6) - INTERVAL 3 HOUR),
  (2, 'assignment', 'Assigned', 'Assigned to Dave Courier', NULL, NULL, NULL, 'admin', 1, 'admin', NOW(6) - INTERVAL 2 HOUR),
  (3, 'created', 'Pending', 'Order placed', NULL, NULL, NULL, 'customer', 1, 'Alice Example', NOW(6) - INTERVAL 1 DAY),
  (3, 'assignment', 'Assigned', 'Assigned to Dave Courier', NULL, NULL, NULL, 'admin', 1, 'admin', NOW(6) - INTERVAL 20 HOUR),
  (3, 'status', 'Picked Up', NULL, 'Market Street depot', NULL, NULL, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 2 HOUR),
  (3, 'status', 'Out for Delivery', NULL, 'Market Street depot', NULL, NULL, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 1 HOUR),
  (3, 'location', 'Out for Delivery', 'Location updated', 'Elm Street', 40.712776, -74.005974, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 5 MINUTE),
  (4, 'created', 'Pending', 'Order placed', NULL, NULL, NULL, 'customer', 1, 'Alice Example', NOW(6) - INTERVAL 3 DAY),
  (4, 'assignment', 'Assigned', 'Assigned to Dave Courier', NULL, NULL, NULL, 'admin', 1, 'admin', NOW(6) - INTERVAL 3 DAY),
  (4, 'status', 'Picked Up', NULL, NULL, NULL, NULL, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 2 DAY - INTERVAL 3 HOUR),
  (4, 'status', 'Out for Delivery', NULL, NULL, NULL, NULL, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 2 DAY - INTERVAL 1 HOUR),
  (4, 'status', 'Delivered', 'Left with recipient', 'Birch Lane', NULL, NULL, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 2 DAY),
  (5, 'created', 'Pending', 'Order placed', NULL, NULL, NULL, 'customer', 2, 'Bob Example', NOW(6) - INTERVAL 30 MINUTE),
  (6, 'created', 'Pending', 'Order placed', NULL, NULL, NULL, 'customer', 2, 'Bob Example', NOW(6) - INTERVAL 2 DAY),
  (6, 'assignment', 'Assigned', 'Assigned to Erin Courier', NULL, NULL, NULL, 'admin', 1, 'admin', NOW(6) - INTERVAL 47 HOUR),
  (6, 'status', 'Picked Up', NULL, NULL, NULL, NULL, 'delivery_person', 2, 'Erin Courier', NOW(6) - INTERVAL 46 HOUR),
  (6, 'status', 'Out for Delivery', NULL, NULL, NULL, NULL, 'delivery_person', 2, 'Erin Courier', NOW(6) - INTERVAL 45 HOUR),
  (7, 'created', 'Pending', 'Order placed', NULL, NULL, NULL, 'customer', 1, 'Alice Example', NOW(6) - INTERVAL 5 HOUR),
  (7, 'assignment', 'Assigned', 'Assigned to Dave Courier', NULL, NULL, NULL, 'admin', 1, 'admin', NOW(6) - INTERVAL 4 HOUR),
  (7, 'status', 'Picked Up', NULL, 'Market Street depot', NULL, NULL, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 3 HOUR),
  (7, 'status', 'Out for Delivery', NULL, 'Oak Avenue', NULL, NULL, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 2 HOUR),
  (8, 'created', 'Pending', 'Order placed', NULL, NULL, NULL, 'customer', 1, 'Alice Example', NOW(6) - INTERVAL 4 HOUR),
  (8, 'assignment', 'Assigned', 'Assigned to Dave Courier', NULL, NULL, NULL, 'admin', 1, 'admin', NOW(6) - INTERVAL 3 HOUR),
  (8, 'status', 'Picked Up', NULL, 'Market Street depot', NULL, NULL, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 2 HOUR),
  (8, 'status', 'Out for Delivery', NULL, 'Pine Road', NULL, NULL, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 1 HOUR),
  (9, 'created', 'Pending', 'Order placed', NULL, NULL, NULL, 'customer', 1, 'Alice Example', NOW(6) - INTERVAL 3 HOUR),
  (9, 'assignment', 'Assigned', 'Assigned to Dave Courier', NULL, NULL, NULL, 'admin', 1, 'admin', NOW(6) - INTERVAL 2 HOUR),
  (9, 'status', 'Picked Up', NULL, 'Market Street depot', NULL, NULL, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 90 MINUTE),
  (9, 'status', 'Out for Delivery', NULL, 'Cedar Court', NULL, NULL, 'delivery_person', 1, 'Dave Courier', NOW(6) - INTERVAL 30 MINUTE);

INSERT INTO order_events (order_id, type, status, note, reason, location, actor_role, actor_id, actor_name, created_at)
VALUES (6, 'status', 'Failed Attempt', 'Nobody home', 'recipient_unavailable', 'Pier Street', 'delivery_person', 2,
        'Erin Courier', NOW(6) - INTERVAL 44 HOUR);

INSERT INTO courier_positions (delivery_person_id, latitude, longitude, location, created_at) VALUES
  (1, 40.712776, -74.005974, 'Elm Street', NOW(6) - INTERVAL 5 MINUTE);

INSERT INTO issues (issue_id, user_type, user_id, order_id, message, status) VALUES
  (1, 'customer', 1, 2, 'Can the courier call before arriving?', 'Open');

